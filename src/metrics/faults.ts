import { Counter, type Registry } from 'prom-client'
import type { Logger } from '../logger.js'

/**
 * Faults the broker survived (README "Faults and bad input"): each is counted by kind and
 * logged at most once per LOG_INTERVAL_MS per kind (with how many were not logged since), so a
 * flood of bad frames or a Redis outage cannot flood the logs.
 */
export type FaultKind =
  /** A message-bus frame that is not a Starling frame, does not decode, or has an invalid topic. */
  | 'bus_frame_invalid'
  /** Reading retained messages for a SUBSCRIBE failed (Redis away): the subscriber was disconnected. */
  | 'retained_read_failed'
  /** A stored retained message that does not decode: skipped. */
  | 'retained_value_corrupt'
  /** Reading a session (subscriptions, will, offline queue) at CONNECT failed: the client was refused or disconnected. */
  | 'session_restore_failed'
  /** Storing a SUBSCRIBE entry or joining its shared group failed: that entry got SUBACK 0x80. */
  | 'subscribe_store_failed'
  /** A stored offline-queue entry that does not decode: skipped. */
  | 'queue_entry_corrupt'
  /** A shared group's read failed or returned an entry that does not decode. */
  | 'group_read_failed'
  /** A PROXY protocol header from a source outside `mqtt.proxyProtocolTrustedCidrs`. */
  | 'proxy_untrusted_source'
  /** A promise rejection nothing handled (logged and counted; the process keeps running). */
  | 'unhandled_rejection'
  /** An exception nothing caught (logged and counted; the process drains and exits 1). */
  | 'uncaught_exception'

export const FAULT_KINDS: readonly FaultKind[] = [
  'bus_frame_invalid', 'retained_read_failed', 'retained_value_corrupt', 'session_restore_failed', 'subscribe_store_failed',
  'queue_entry_corrupt', 'group_read_failed', 'proxy_untrusted_source', 'unhandled_rejection', 'uncaught_exception'
]

const LOG_INTERVAL_MS = 10_000

export class FaultMetrics {
  readonly counter: Counter<'kind'>
  readonly #lastLogged = new Map<FaultKind, { at: number, suppressed: number }>()
  #logger: Logger | undefined

  constructor (registry: Registry) {
    this.counter = new Counter({ name: 'starling_faults_total', help: 'Faults survived (bad bus frames, corrupt stored values, store reads that failed, unhandled errors), by kind', labelNames: ['kind'], registers: [registry] })
    for (const kind of FAULT_KINDS) this.counter.labels(kind).inc(0)
  }

  /** The logger the rate-limited lines go to (set once the node's logger exists). */
  useLogger (logger: Logger): void {
    this.#logger = logger
  }

  /** Counts one fault of `kind`; logs it unless one of its kind was logged in the last LOG_INTERVAL_MS. */
  record (kind: FaultKind, err: unknown, context: Record<string, unknown> = {}, now = Date.now()): void {
    this.counter.labels(kind).inc()
    const last = this.#lastLogged.get(kind)
    if (last !== undefined && now - last.at < LOG_INTERVAL_MS) {
      last.suppressed++
      return
    }
    this.#lastLogged.set(kind, { at: now, suppressed: 0 })
    const message = err instanceof Error ? err.message : String(err)
    this.#logger?.warn({ fault: kind, err: message, ...context, ...(last !== undefined && last.suppressed > 0 ? { notLogged: last.suppressed } : {}) }, `fault survived: ${kind}`)
  }
}
