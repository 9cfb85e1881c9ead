/**
 * Slows down token guessing: every CONNECT needing a token from an address with recent failures
 * is answered only after a delay that doubles with each failure — base × 2^(failures − 1), at most
 * `maxDelayMs` — whether it then succeeds or not, so parallel attempts are slowed too. An address
 * is forgotten `forgetMs` after its last failure; at most `maxAddresses` are remembered (the one
 * failing longest ago is dropped first), so a flood of addresses costs bounded memory.
 */
export interface FailureThrottleOptions {
  readonly baseDelayMs: number
  /** 0 disables the slow-down. */
  readonly maxDelayMs: number
  readonly forgetMs: number
  readonly maxAddresses: number
  readonly clock?: () => number
}

export const FAILURE_THROTTLE_DEFAULTS = { baseDelayMs: 100, forgetMs: 60_000, maxAddresses: 10_000 } as const

interface Entry { failures: number, last: number }

export class FailureThrottle {
  readonly #o: FailureThrottleOptions
  readonly #clock: () => number
  /** Insertion order is failure order: a failure moves its address to the end. */
  readonly #entries = new Map<string, Entry>()

  constructor (options: FailureThrottleOptions) {
    this.#o = options
    this.#clock = options.clock ?? Date.now
  }

  /** Milliseconds to hold the answer to a CONNECT from `address`. */
  delayMs (address: string | undefined): number {
    if (address === undefined || this.#o.maxDelayMs <= 0) return 0
    const entry = this.#entries.get(address)
    if (entry === undefined) return 0
    if (this.#clock() - entry.last > this.#o.forgetMs) {
      this.#entries.delete(address)
      return 0
    }
    // 2^20 × base is beyond any sensible maximum: stop doubling there.
    return Math.min(this.#o.baseDelayMs * 2 ** Math.min(entry.failures - 1, 20), this.#o.maxDelayMs)
  }

  recordFailure (address: string | undefined): void {
    if (address === undefined || this.#o.maxDelayMs <= 0) return
    const now = this.#clock()
    const entry = this.#entries.get(address)
    const failures = entry !== undefined && now - entry.last <= this.#o.forgetMs ? entry.failures + 1 : 1
    this.#entries.delete(address)
    this.#entries.set(address, { failures, last: now })
    if (this.#entries.size > this.#o.maxAddresses) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  get size (): number {
    return this.#entries.size
  }
}
