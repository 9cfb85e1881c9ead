/**
 * A token bucket: `ratePerSecond` tokens a second, holding at most one second's worth (the
 * burst). A take may leave the bucket in debt (a message larger than a second's bytes still
 * passes once the bucket is full, then waits out its debt), so no single request is refused
 * forever. The clock is injected for tests.
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

  /** Takes `n` tokens if the bucket is not in debt; false (nothing taken) otherwise. */
  take (n: number, now: number): boolean {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#rate, this.#tokens + elapsed * this.#rate / 1000)
      this.#last = now
    }
    if (this.#tokens <= 0) return false
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
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#rate, now)
      if (this.#buckets.size >= this.#maxKeys) {
        const oldest = this.#buckets.keys().next().value
        if (oldest !== undefined) this.#buckets.delete(oldest)
      }
    } else {
      this.#buckets.delete(key) // re-inserted below: Map order is the recency order
    }
    this.#buckets.set(key, bucket)
    return bucket.take(n, now)
  }

  get size (): number {
    return this.#buckets.size
  }
}
