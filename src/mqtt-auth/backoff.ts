/**
 * Per-address slow-down of wrong device keys: after a failure, the next CONNECT from the address
 * is answered only after 100 ms × 2^(failures − 1), at most `maxDelayMs`, whether it then succeeds
 * or not (parallel guesses are slowed too). An address is forgotten a minute after its last
 * failure; at most 10,000 are remembered (the one failing longest ago is dropped first).
 */
export class FailureBackoff {
  static readonly BASE_MS = 100
  static readonly FORGET_MS = 60_000
  static readonly MAX_ADDRESSES = 10_000
  readonly #maxDelayMs: number
  readonly #clock: () => number
  /** Insertion order is failure order: a failure moves its address to the end. */
  readonly #entries = new Map<string, { failures: number, last: number }>()

  constructor (maxDelayMs: number, clock: () => number = Date.now) {
    this.#maxDelayMs = maxDelayMs
    this.#clock = clock
  }

  delayMs (address: string | undefined): number {
    if (address === undefined || this.#maxDelayMs <= 0) return 0
    const entry = this.#entries.get(address)
    if (entry === undefined) return 0
    if (this.#clock() - entry.last > FailureBackoff.FORGET_MS) { this.#entries.delete(address); return 0 }
    return Math.min(FailureBackoff.BASE_MS * 2 ** Math.min(entry.failures - 1, 20), this.#maxDelayMs)
  }

  recordFailure (address: string | undefined): void {
    if (address === undefined || this.#maxDelayMs <= 0) return
    const now = this.#clock()
    const entry = this.#entries.get(address)
    const failures = entry !== undefined && now - entry.last <= FailureBackoff.FORGET_MS ? entry.failures + 1 : 1
    this.#entries.delete(address)
    this.#entries.set(address, { failures, last: now })
    if (this.#entries.size > FailureBackoff.MAX_ADDRESSES) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  get size (): number {
    return this.#entries.size
  }
}
