import { setNewest } from './bounded-map.js'

/**
 * A token bucket: `ratePerSecond` tokens a second, holding at most one second's worth (the
 * burst). A take of `n` needs `n` tokens, or a full bucket when `n` is more than a second's worth
 * (such a message passes and leaves the bucket in debt, so no single request is refused
 * forever). The clock is injected for tests.
 */
export class TokenBucket {
  #tokens: number
  #last: number
  readonly #rate: number

  constructor (ratePerSecond: number, now: number) {
    this.#rate = ratePerSecond
    this.#tokens = ratePerSecond
    this.#last = now
  }

  /** Takes `n` tokens if there are enough (see above); false (nothing taken) otherwise. */
  take (n: number, now: number): boolean {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#rate, this.#tokens + elapsed * this.#rate / 1000)
      this.#last = now
    }
    if (this.#tokens < Math.min(n, this.#rate)) return false
    this.#tokens -= n
    return true
  }
}

/**
 * Token buckets by key (e.g. a source address), at most `maxKeys` of them: the least recently
 * used key is forgotten first (a forgotten key starts again with a full bucket), so a flood of
 * distinct keys costs bounded memory.
 */
export class KeyedTokenBuckets {
  readonly #buckets = new Map<string, TokenBucket>()
  readonly #rate: number
  readonly #maxKeys: number

  constructor (ratePerSecond: number, maxKeys: number) {
    this.#rate = ratePerSecond
    this.#maxKeys = maxKeys
  }

  take (key: string, n: number, now: number): boolean {
    const bucket = this.#buckets.get(key) ?? new TokenBucket(this.#rate, now)
    // Re-inserted on every take: the least recently used address is the one dropped.
    setNewest(this.#buckets, key, bucket, this.#maxKeys)
    return bucket.take(n, now)
  }

  get size (): number {
    return this.#buckets.size
  }
}
