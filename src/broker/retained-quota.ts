import type { EnginePersistence } from './engine.js'
import type { Logger } from '../logger.js'
import { Sweeper } from '../util/sweeper.js'

/**
 * How many retained messages exist now, or undefined when it cannot be told (Redis away). Per
 * installation today; a per-broker source (tenancy) plugs in here with the broker's count.
 */
export type RetainedCount = () => Promise<number | undefined>

/** The retained count of aedes' in-memory persistence or of Starling's Redis one (cluster-wide). */
export function persistenceRetainedCount (persistence: EnginePersistence): RetainedCount {
  const store = persistence as EnginePersistence & { storeSizes?: () => { retained: number }, asyncPersistence?: { storeSizes?: () => { retained: number } } }
  return async () => {
    if (typeof store.retainedCount === 'function') return await store.retainedCount().catch(() => undefined)
    const sizes = (typeof store.storeSizes === 'function' ? store : store.asyncPersistence)?.storeSizes?.()
    return sizes?.retained
  }
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
  readonly #sweeper: Sweeper
  #known = 0

  constructor (options: { max: number, count: RetainedCount, refreshMs: number, logger: Logger }) {
    this.#max = options.max
    this.#count = options.count
    this.#sweeper = new Sweeper(async () => { await this.refresh() }, { name: 'retained count', everyMs: options.refreshMs, logger: options.logger }).start()
  }

  async refresh (): Promise<void> {
    const n = await this.#count()
    if (n !== undefined) this.#known = n
  }

  /** Does the installation have room for this retained message? Counts it when it does. */
  admit (packet: { readonly retain: boolean, readonly payload: Buffer | string }): boolean {
    if (!packet.retain || packet.payload.length === 0) return true
    if (this.#known >= this.#max) return false
    this.#known++
    return true
  }

  stop (): void {
    void this.#sweeper.stop()
  }
}
