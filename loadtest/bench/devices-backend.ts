import type { PublishPacket } from '../k6/lib/mqtt-codec.js'
import { openTcpDevice, wallNow, type TcpDevice } from './devices-conn.js'

/**
 * Back-end clients of the devices harness, in the parent process: telemetry consumers, the
 * command publisher and the retained-state writer. Same MqttSession over TCP as the devices.
 */
export interface BackendClient {
  readonly dev: TcpDevice
  onMessage: (p: PublishPacket) => void
  onAck: (reason: number) => void
  /** Resolves with the reason codes of the next SUBACK. */
  nextSuback: () => Promise<number[]>
}

const live = new Set<BackendClient>()
let ticker: NodeJS.Timeout | undefined

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

export async function connectBackend (port: number, clientId: string, version: 4 | 5): Promise<BackendClient> {
  let subacks: Array<(codes: number[]) => void> = []
  const handlers = { onMessage: (_p: PublishPacket): void => {}, onAck: (_reason: number): void => {} }
  const dev = openTcpDevice({ port, version, clientId, keepaliveSec: 60, clean: true, connectTimeoutMs: 10_000 }, {
    message: (p) => handlers.onMessage(p),
    acked: (_id, reason) => handlers.onAck(reason),
    suback: (_id, codes) => {
      const waiters = subacks
      subacks = []
      for (const w of waiters) w(codes)
    }
  })
  const client: BackendClient = {
    dev,
    get onMessage () { return handlers.onMessage },
    set onMessage (f) { handlers.onMessage = f },
    get onAck () { return handlers.onAck },
    set onAck (f) { handlers.onAck = f },
    nextSuback: async () => await new Promise<number[]>((resolve) => subacks.push(resolve))
  }
  const connack = await dev.ready
  if (connack.reasonCode !== 0) throw new Error(`${clientId}: CONNACK 0x${connack.reasonCode.toString(16)}`)
  live.add(client)
  ticker ??= setInterval(() => { for (const c of live) c.dev.session.tick() }, 1000)
  return client
}

/** Subscribes `filter` at `qos`; throws unless the SUBACK grants it (within 10 s). */
export async function subscribe (client: BackendClient, filter: string, qos: 0 | 1): Promise<void> {
  const wait = client.nextSuback()
  client.dev.session.subscribe([{ topic: filter, qos }])
  const codes = await Promise.race([wait, sleep(10_000).then(() => null)])
  if (codes === null) throw new Error(`no SUBACK for ${filter} within 10 s`)
  if (codes.some((c) => c >= 0x80)) throw new Error(`subscribe ${filter} refused: 0x${(codes[0] ?? 0).toString(16)}`)
}

/**
 * Publishes `count` messages (topic and payload of message i from `make`) as fast as the send
 * quota allows, at most `rate` per second (Infinity: no pacing); QoS 1 waits for every PUBACK.
 * Bounded by `timeoutMs`. Returns how many went out and how many were acked with success.
 */
export async function publishMany (client: BackendClient, count: number, qos: 0 | 1, retain: boolean, rate: number, timeoutMs: number,
  make: (i: number) => { topic: string, payload: Uint8Array }, stop: () => boolean = () => false): Promise<{ sent: number, acked: number }> {
  const s = client.dev.session
  let acked = 0
  client.onAck = (reason) => { if (reason < 0x80) acked++ }
  const started = wallNow()
  const deadline = started + timeoutMs
  let sent = 0
  while (wallNow() < deadline && sent < count && !stop() && s.state === 'connected') {
    const due = Math.min(count, Number.isFinite(rate) ? Math.floor(((wallNow() - started) / 1000) * rate) + 1 : count)
    while (sent < due && (qos === 0 || s.inflight < s.sendQuota)) {
      const { topic, payload } = make(sent)
      if (s.publish(topic, payload, qos, retain) === undefined) break
      sent++
    }
    // drain the socket before queueing more (QoS 0 has no ack window)
    if (client.dev.socket.writableLength > 1 << 20) await new Promise((resolve) => client.dev.socket.once('drain', resolve))
    else await sleep(Number.isFinite(rate) ? 10 : 1)
  }
  while (qos === 1 && wallNow() < deadline && s.inflight > 0 && s.state === 'connected') await sleep(20)
  return { sent, acked: qos === 1 ? acked : sent }
}

export function closeBackend (client: BackendClient): void {
  live.delete(client)
  client.dev.close()
  if (live.size === 0 && ticker !== undefined) {
    clearInterval(ticker)
    ticker = undefined
  }
}
