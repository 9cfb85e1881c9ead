/**
 * Options of the k6 scripts, read from `-e NAME=value` (k6's __ENV) with defaults. Pure: takes the
 * environment as a plain object so Node tests can exercise it. Every name is listed in README.md.
 */
import type { ProtocolVersion, QoS } from './mqtt-codec.ts'

export interface Settings {
  /** MQTT over WebSocket endpoint; Starling's ws listener defaults to port 8080, path /mqtt. */
  url: string
  devices: number
  vus: number
  /** Connect attempts per second across all VUs while ramping. */
  rate: number
  /** How long the scenario holds its load (after the ramp), in ms. */
  durationMs: number
  qos: QoS
  version: ProtocolVersion
  keepaliveSec: number
  clientPrefix: string
  username?: string
  password?: string
  /** Back-end clients (consumers, command publisher, retained writer); default USERNAME/PASSWORD. */
  backendUsername?: string
  backendPassword?: string
  /** Credentials file path for open(); absolute or relative to the script. */
  credentialsFile?: string
  topicPrefix: string
  /** Telemetry: each device publishes every this many ms. */
  intervalMs: number
  payloadBytes: number
  /** After the load stops, how long to wait for the last messages, in ms. */
  drainMs: number
  connectTimeoutMs: number
  /** Shared-subscription group and number of back-end consumers per VU (telemetry fan-in). */
  group: string
  consumers: number
  /** Command fan-out: commands per second across all VUs. */
  commandRate: number
  /** Reconnect storm: how long devices stay away before returning, in ms. */
  offlineMs: number
  /** Reconnect storm: MQTT 5 Session Expiry Interval of the devices' persistent sessions, seconds. */
  sessionExpirySec: number
  /** Thresholds. */
  minConnectSuccess: number
  minDelivery: number
  p95LatencyMs: number
  p95ConnectMs: number
}

/** Parses k6-style durations: `500ms`, `30s`, `5m`, `1h30m`, or a bare number of seconds. */
export function parseDuration (text: string): number {
  const t = text.trim()
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000)
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  let total = 0
  let rest = t
  while (rest !== '') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest)
    if (m === null) throw new Error(`bad duration ${JSON.stringify(text)}: use e.g. 500ms, 30s, 5m, 1h30m`)
    total += Number(m[1]) * (unit[m[2] as string] as number)
    rest = rest.slice(m[0].length)
  }
  if (t === '') throw new Error('empty duration')
  return Math.round(total)
}

type Env = Readonly<Record<string, string | undefined>>

function num (env: Env, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return def
  const v = Number(raw)
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${name}=${raw}: expected a number in [${min}, ${max}]`)
  return v
}

function str (env: Env, name: string, def: string): string {
  const raw = env[name]
  return raw === undefined || raw === '' ? def : raw
}

function ms (env: Env, name: string, def: string): number {
  return parseDuration(str(env, name, def))
}

export function readSettings (env: Env): Settings {
  const qos = num(env, 'QOS', 1, 0, 2)
  const version = num(env, 'MQTT_VERSION', 5, 4, 5)
  if (!Number.isInteger(qos)) throw new Error(`QOS=${String(qos)}: expected 0, 1 or 2`)
  if (version !== 4 && version !== 5) throw new Error(`MQTT_VERSION=${version}: expected 4 (3.1.1) or 5`)
  const s: Settings = {
    url: str(env, 'URL', 'ws://127.0.0.1:8080/mqtt'),
    devices: Math.floor(num(env, 'DEVICES', 1000, 1)),
    vus: Math.floor(num(env, 'VUS', 1, 1)),
    rate: num(env, 'RATE', 200, 0.1),
    durationMs: ms(env, 'DURATION', '60s'),
    qos: qos as QoS,
    version,
    keepaliveSec: Math.floor(num(env, 'KEEPALIVE', 60, 0, 65535)),
    clientPrefix: str(env, 'CLIENT_PREFIX', 'k6-'),
    topicPrefix: str(env, 'TOPIC_PREFIX', 'k6'),
    intervalMs: ms(env, 'INTERVAL', '5s'),
    payloadBytes: Math.floor(num(env, 'PAYLOAD_BYTES', 64, 16, 256 * 1024)),
    drainMs: ms(env, 'DRAIN', '10s'),
    connectTimeoutMs: ms(env, 'CONNECT_TIMEOUT', '10s'),
    group: str(env, 'GROUP', 'k6-workers'),
    consumers: Math.floor(num(env, 'CONSUMERS', 2, 1)),
    commandRate: num(env, 'COMMAND_RATE', 100, 0.1),
    offlineMs: ms(env, 'OFFLINE', '5s'),
    sessionExpirySec: Math.floor(num(env, 'SESSION_EXPIRY', 300, 1, 0xffffffff)),
    minConnectSuccess: num(env, 'MIN_CONNECT_SUCCESS', 0.99, 0, 1),
    minDelivery: num(env, 'MIN_DELIVERY', qos === 0 ? 0.99 : 0.999, 0, 1),
    p95LatencyMs: num(env, 'P95_LATENCY_MS', 500, 0),
    p95ConnectMs: num(env, 'P95_CONNECT_MS', 2000, 0)
  }
  if (s.group.includes('/') || s.group.includes('+') || s.group.includes('#')) {
    throw new Error(`GROUP=${s.group}: a share name cannot contain /, + or # [MQTT-4.8.2-2]`)
  }
  const user = env.USERNAME
  const pass = env.PASSWORD
  const file = env.CREDENTIALS
  if (user !== undefined && user !== '') s.username = user
  if (pass !== undefined && pass !== '') s.password = pass
  if (file !== undefined && file !== '') s.credentialsFile = file
  const bUser = env.BACKEND_USERNAME ?? user
  const bPass = env.BACKEND_PASSWORD ?? pass
  if (bUser !== undefined && bUser !== '') s.backendUsername = bUser
  if (bPass !== undefined && bPass !== '') s.backendPassword = bPass
  return s
}

/** The contiguous block of device indexes VU number `vu` (1-based) owns: devices are spread evenly. */
export function vuSlice (vu: number, vus: number, devices: number): { first: number, count: number } {
  const base = Math.floor(devices / vus)
  const extra = devices % vus
  const i = vu - 1
  return { first: i * base + Math.min(i, extra), count: base + (i < extra ? 1 : 0) }
}
