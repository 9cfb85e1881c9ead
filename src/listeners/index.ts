import type { StarlingConfig } from '../config/schema.js'
import { listenTcp } from './tcp.js'
import type { ConnectionHandler, Listener } from './types.js'

/** Starts every listener the configuration asks for; if one fails, the started ones are closed. */
export async function startListeners (config: StarlingConfig, handle: ConnectionHandler): Promise<Listener[]> {
  const started: Listener[] = []
  try {
    started.push(await listenTcp({ name: 'mqtt', host: config.mqtt.host, port: config.mqtt.port }, handle))
  } catch (err) {
    await Promise.all(started.map((listener) => listener.close()))
    throw err
  }
  return started
}
