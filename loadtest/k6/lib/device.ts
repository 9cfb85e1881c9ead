/**
 * MQTT devices over k6 WebSockets: one VU holds many of them (k6/websockets runs every socket of
 * a VU on the VU's event loop). MQTT over WebSocket: binary frames [MQTT-6.0.0-1], sub-protocol
 * `mqtt` [MQTT-6.0.0-3]; k6 does not implement the `protocols` argument yet, so the sub-protocol
 * goes as a Sec-WebSocket-Protocol header.
 */
import { WebSocket } from 'k6/websockets'
import { clearInterval, setInterval } from 'k6/timers'
import type { Credential } from './credentials.ts'
import { m } from './metrics.ts'
import { MqttSession, type SessionEvents } from './session.ts'
import type { Settings } from './settings.ts'

export interface DeviceOptions {
  credential: Credential
  /** Tag of the connect metrics: `initial` or `reconnect`. */
  phase: string
  clean?: boolean
  sessionExpirySec?: number
  /** Called once CONNACK 0x00 arrived. */
  onReady? (device: Device): void
  /** Called when the connection ends (after onReady or not); `wanted` is false for drops and failures. */
  onEnd? (device: Device, wanted: boolean): void
}

export interface Device {
  readonly clientId: string
  readonly session: MqttSession
  /** Closes without DISCONNECT (a network drop: the will and session expiry apply). */
  drop (): void
  /** DISCONNECT, then close; `endSession` also ends an MQTT 5 persistent session. */
  close (endSession?: boolean): void
}

/** At most 20 connection warnings per VU, so a failing run does not flood the console. */
let warnings = 0
function warn (text: string): void {
  if (++warnings <= 20) console.warn(text)
  if (warnings === 20) console.warn(`VU ${__VU}: further connection warnings suppressed (see mqtt_connect_success and mqtt_connection_drops)`)
}

function toArrayBuffer (bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
  return (whole ? bytes.buffer : bytes.slice().buffer) as ArrayBuffer
}

/** Opens one device: WebSocket, then CONNECT; metrics for the connect attempt and for drops. */
export function openDevice (s: Settings, o: DeviceOptions, events: SessionEvents = {}): Device {
  const startedAt = Date.now()
  let attemptDone = false
  let ready = false
  let wanted = false
  let ended = false
  const tags = { phase: o.phase }
  const ws = new WebSocket(s.url, null, { headers: { 'Sec-WebSocket-Protocol': 'mqtt' }, tags })
  ws.binaryType = 'arraybuffer'
  const attempt = (ok: boolean): void => {
    if (attemptDone) return
    attemptDone = true
    m.connectSuccess.add(ok, tags)
    if (ok) m.connectTime.add(Date.now() - startedAt, tags)
  }
  const end = (): void => {
    if (ended) return
    ended = true
    attempt(false)
    if (ready && !wanted) m.drops.add(1)
    o.onEnd?.(device, wanted)
  }
  const session = new MqttSession({
    version: s.version,
    clientId: o.credential.clientId,
    keepaliveSec: s.keepaliveSec,
    clean: o.clean ?? true,
    connectTimeoutMs: s.connectTimeoutMs,
    ...(o.credential.username !== undefined ? { username: o.credential.username } : {}),
    ...(o.credential.password !== undefined ? { password: o.credential.password } : {}),
    ...(o.sessionExpirySec !== undefined ? { sessionExpirySec: o.sessionExpirySec } : {})
  }, {
    send: (bytes) => { if (ws.readyState === WebSocket.OPEN) ws.send(toArrayBuffer(bytes)) },
    close: () => { if (ws.readyState !== WebSocket.CLOSED && ws.readyState !== WebSocket.CLOSING) ws.close(); end() }
  }, {
    ...events,
    connack: (p, elapsed) => {
      events.connack?.(p, elapsed)
      if (p.reasonCode !== 0) return
      attempt(true)
      ready = true
      o.onReady?.(device)
    },
    pong: (elapsed) => { m.pingRtt.add(elapsed); events.pong?.(elapsed) },
    error: (why) => {
      warn(`${o.credential.clientId}: ${why}`)
      events.error?.(why)
    }
  })
  const device: Device = {
    clientId: o.credential.clientId,
    session,
    drop: () => { wanted = true; session.closed(); ws.close(); end() },
    close: (endSession = false) => { wanted = true; session.disconnect(endSession) }
  }
  ws.onopen = () => { session.start() }
  ws.onmessage = (event) => {
    const data = event?.data
    // A text frame is not MQTT [MQTT-6.0.0-1].
    if (data instanceof ArrayBuffer) session.receive(data)
    else { warn(`${o.credential.clientId}: non-binary WebSocket frame`); session.disconnect() }
  }
  ws.onerror = (event) => {
    warn(`${o.credential.clientId}: WebSocket error: ${event?.error ?? 'unknown'}`)
  }
  ws.onclose = () => { session.closed(); end() }
  return device
}

/**
 * One timer per VU drives keep-alive and CONNACK timeouts of all its sessions. Default period:
 * a quarter of the keep alive, at most 1 s.
 */
export class Ticker {
  private readonly sessions = new Set<MqttSession>()
  private readonly timer: number
  constructor (keepaliveSec: number, periodMs = Math.max(100, Math.min(1000, keepaliveSec * 250))) {
    this.timer = setInterval(() => {
      const now = Date.now()
      for (const session of this.sessions) {
        if (session.state === 'closed') this.sessions.delete(session)
        else session.tick(now)
      }
    }, periodMs)
  }

  add (device: Device): Device { this.sessions.add(device.session); return device }
  stop (): void { clearInterval(this.timer); this.sessions.clear() }
}

/**
 * Calls `start(i)` for i = 0..count-1 at `perSecond` (in bursts every 20 ms or more), then `done()`.
 */
export function ramp (count: number, perSecond: number, start: (i: number) => void, done: () => void): void {
  if (count === 0) { done(); return }
  const stepMs = Math.max(20, Math.min(1000, 1000 / perSecond))
  const t0 = Date.now()
  let next = 0
  const timer = setInterval(() => {
    const due = Math.min(count, Math.floor(((Date.now() - t0 + stepMs) / 1000) * perSecond))
    while (next < due) start(next++)
    if (next >= count) { clearInterval(timer); done() }
  }, stepMs)
}
