import type { EnginePersistence } from './engine.js'
import type { Logger } from '../logger.js'
import { Sweeper } from '../util/sweeper.js'

/**
 * How many retained messages exist now, or undefined when it cannot be told (Redis away). Per
 * installation today; a per-broker source (tenancy) plugs in here with the broker's count.
 */
export type RetainedCount = () => Promise<number | undefined>

interface StoreSizes { retained: number, retainedBytes?: number, sessions?: number }
type MeasuredStore = EnginePersistence & { storeSizes?: () => StoreSizes, asyncPersistence?: { storeSizes?: () => StoreSizes } }

/** What a persistence measures: aedes' in-memory one (`storeSizes`, our patch) or Starling's Redis one (cluster-wide). */
function persistenceMeasure (persistence: EnginePersistence, size: keyof StoreSizes, redis: 'retainedCount' | 'retainedBytes' | 'sessionCount'): RetainedCount {
  const store = persistence as MeasuredStore
  return async () => {
    const read = store[redis]
    if (typeof read === 'function') return await read.call(store).catch(() => undefined)
    const sizes = (typeof store.storeSizes === 'function' ? store : store.asyncPersistence)?.storeSizes?.()
    return sizes?.[size]
  }
}

/** The retained count of aedes' in-memory persistence or of Starling's Redis one (cluster-wide). */
export function persistenceRetainedCount (persistence: EnginePersistence): RetainedCount {
  return persistenceMeasure(persistence, 'retained', 'retainedCount')
}

/** Payload bytes of the retained messages (limits.maxRetainedBytes). */
export function persistenceRetainedBytes (persistence: EnginePersistence): RetainedCount {
  return persistenceMeasure(persistence, 'retainedBytes', 'retainedBytes')
}

/** Sessions that outlive their connection (limits.maxPersistentSessions). */
export function persistenceSessionCount (persistence: EnginePersistence): RetainedCount {
  return persistenceMeasure(persistence, 'sessions', 'sessionCount')
}

/** A PUBLISH's payload size in bytes. */
export function payloadBytes (payload: Buffer | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
}

/**
 * `limits.maxRetainedMessages`: a retained PUBLISH that stores a message (non-empty payload) is
 * refused while the installation holds that many; clearing one is always allowed. The count is
 * re-read every `refreshMs` (a Redis round trip per pod, not one per PUBLISH) and raised by each
 * retained message admitted in between, so a burst cannot overshoot by more than the other pods'
 * admissions within one refresh. At the limit replacing a retained message is refused too (its
 * topic's existence is not looked up on the PUBLISH path).
 */
export class RetainedQuota {
  readonly #max: number
  readonly #count: RetainedCount
  readonly #weigh: (payload: Buffer | string) => number
  readonly #sweeper: Sweeper
  #known = 0

  /**
   * `weigh`: what one stored message adds (default 1: the count; `payloadBytes` for
   * `limits.maxRetainedBytes`, where `count` reads the byte total).
   */
  constructor (options: { max: number, count: RetainedCount, refreshMs: number, logger: Logger, name?: string, weigh?: (payload: Buffer | string) => number }) {
    this.#max = options.max
    this.#count = options.count
    this.#weigh = options.weigh ?? (() => 1)
    this.#sweeper = new Sweeper(async () => { await this.refresh() }, { name: options.name ?? 'retained count', everyMs: options.refreshMs, logger: options.logger }).start()
  }

  async refresh (): Promise<void> {
    const n = await this.#count()
    if (n !== undefined) this.#known = n
  }

  /** Does the installation have room for this retained message? Counts it when it does. */
  admit (packet: { readonly retain: boolean, readonly payload: Buffer | string }): boolean {
    if (!this.fits(packet)) return false
    this.take(packet)
    return true
  }

  /** Does the installation have room for this retained message? */
  fits (packet: { readonly retain: boolean, readonly payload: Buffer | string }): boolean {
    if (!packet.retain || packet.payload.length === 0) return true
    return this.#known + this.#weigh(packet.payload) <= this.#max
  }

  /** Counts an admitted retained message until the next re-read. */
  take (packet: { readonly retain: boolean, readonly payload: Buffer | string }): void {
    if (packet.retain && packet.payload.length > 0) this.#known += this.#weigh(packet.payload)
  }

  stop (): void {
    void this.#sweeper.stop()
  }
}
