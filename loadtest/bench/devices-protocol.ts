/**
 * Messages between the devices harness (devices-cli.ts) and its worker processes
 * (devices-worker.ts, one per source address). Plain JSON over the fork IPC channel.
 */

export interface WorkerInit {
  readonly worker: number
  /** 127.0.0.x: this worker's source address (its own ephemeral port range). */
  readonly localAddress: string
  /** Broker ports; device i connects to ports[i % ports.length] (direct to pods: a load balancer's spread). */
  readonly ports: readonly number[]
  /** Global index of this worker's first device, and how many it owns. */
  readonly first: number
  readonly count: number
  readonly version: 4 | 5
  readonly keepaliveSec: number
  readonly qos: 0 | 1
  readonly payloadBytes: number
  readonly connectTimeoutMs: number
  /** Handshakes in flight at most (per worker), so listen backlogs do not overflow. */
  readonly maxPending: number
  readonly clientPrefix: string
  /** Topics of device i: `${topicBase}/w${worker}/${i}/{telemetry,cmd,state}`. */
  readonly topicBase: string
}

export type Subscribe = 'none' | 'cmd' | 'state'

export type ToWorker =
  | { cmd: 'open', rate: number, clean: boolean, sessionExpirySec: number, subscribe: Subscribe }
  | { cmd: 'publish', intervalMs: number, durationMs: number }
  | { cmd: 'drop' }
  | { cmd: 'collect' }
  | { cmd: 'close', endSession: boolean }

export interface Opened {
  cmd: 'opened'
  connected: number
  failed: number
  errors: string[]
  /** CONNACK times in ms (every device, up to a cap). */
  connectMs: number[]
  /** Devices connected per entry of `ports`. */
  perPort: number[]
  sessionPresent: number
  subscribed: number
  retainedOk: number
  /** SUBSCRIBE → retained PUBLISH, ms. */
  retainedMs: number[]
  seconds: number
}

export interface Collected {
  cmd: 'collected'
  /** Devices connected right now. */
  held: number
  /** Connections that ended without the harness asking. */
  drops: number
  delivered: number
  duplicates: number
  /** Publish → receipt in ms of messages received by devices (up to a cap). */
  latencies: number[]
}

export type FromWorker =
  | { cmd: 'ready' }
  | { cmd: 'progress', connected: number, failed: number, sent: number, received: number }
  | Opened
  | { cmd: 'published', sent: number, acked: number, refused: number }
  | { cmd: 'dropped' }
  | Collected
  | { cmd: 'closed' }

/** Telemetry, command and state topics of device `index` owned by `worker`. */
export function deviceTopic (topicBase: string, worker: number, index: number, kind: 'telemetry' | 'cmd' | 'state'): string {
  return `${topicBase}/w${worker}/${index}/${kind}`
}

/** Cap of latency samples one process keeps (uniform: every n-th beyond the cap is not needed at these rates). */
export const SAMPLE_CAP = 200_000

/** How long a worker keeps connecting its `count` devices at `rate`/s: 5x the ramp (brokers may accept slower), plus a timeout and a minute. */
export function openBudgetMs (count: number, rate: number, connectTimeoutMs: number): number {
  return (count / rate) * 5000 + connectTimeoutMs + 60_000
}
