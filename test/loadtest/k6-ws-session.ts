/**
 * Runs the k6 scripts' MqttSession over Node's `ws` (in k6 it runs over k6/websockets), so the
 * codec and session logic are tested against the real broker's WebSocket listener.
 */
import type { TestContext } from 'node:test'
import { WebSocket } from 'ws'
import type { ConnackPacket, PublishPacket } from '../../loadtest/k6/lib/mqtt-codec.js'
import { MqttSession, type SessionEvents, type SessionOptions } from '../../loadtest/k6/lib/session.js'
import { waitFor } from '../helpers/clients.js'

export interface WsSession {
  readonly session: MqttSession
  readonly ws: WebSocket
  readonly messages: PublishPacket[]
  readonly acks: Array<{ packetId: number, reasonCode: number }>
  readonly subacks: Array<{ packetId: number, reasonCodes: number[] }>
  readonly unsubacks: Array<{ packetId: number, reasonCodes: number[] }>
  readonly errors: string[]
  pongs: number
  connack: ConnackPacket | undefined
  closed: boolean
}

export async function openWsSession (t: TestContext, url: string, options: Partial<SessionOptions> & { clientId: string }, events: SessionEvents = {}): Promise<WsSession> {
  const ws = new WebSocket(url, ['mqtt'])
  const state: Omit<WsSession, 'session'> = { ws, messages: [], acks: [], subacks: [], unsubacks: [], errors: [], pongs: 0, connack: undefined, closed: false }
  const session = new MqttSession({ version: 5, keepaliveSec: 30, clean: true, connectTimeoutMs: 5000, ...options }, {
    send: (bytes) => { if (ws.readyState === WebSocket.OPEN) ws.send(bytes) },
    close: () => { ws.close() }
  }, {
    ...events,
    connack: (p, ms) => { state.connack = p; events.connack?.(p, ms) },
    message: (p) => { state.messages.push(p); events.message?.(p) },
    acked: (packetId, reasonCode, ms) => { state.acks.push({ packetId, reasonCode }); events.acked?.(packetId, reasonCode, ms) },
    suback: (packetId, reasonCodes) => { state.subacks.push({ packetId, reasonCodes }); events.suback?.(packetId, reasonCodes) },
    unsuback: (packetId, reasonCodes) => { state.unsubacks.push({ packetId, reasonCodes }) },
    pong: () => { state.pongs++ },
    error: (why) => { state.errors.push(why) }
  })
  const out: WsSession = Object.assign(state, { session })
  ws.on('open', () => session.start())
  ws.on('message', (data: Buffer) => session.receive(data))
  ws.on('close', () => { out.closed = true; session.closed() })
  ws.on('error', (err) => { state.errors.push(err.message) })
  t.after(() => { ws.terminate() })
  await waitFor(() => out.connack !== undefined || out.closed, 5000, `CONNACK for ${options.clientId}`)
  return out
}

/** Subscribes and waits for the SUBACK; returns its reason codes. */
export async function subscribe (s: WsSession, topic: string, qos: 0 | 1 | 2): Promise<number[]> {
  const id = s.session.subscribe([{ topic, qos }])
  await waitFor(() => s.subacks.some((a) => a.packetId === id), 5000, `SUBACK for ${topic}`)
  return s.subacks.find((a) => a.packetId === id)?.reasonCodes ?? []
}
