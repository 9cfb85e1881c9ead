/**
 * The arithmetic of the rate quotas, pure (no clock, no Redis), so it can be tested alone. The
 * Redis store runs the same rules in Lua (redis-store.ts); the memory store calls these.
 *
 * How a rate quota holds cluster-wide without a Redis round trip per message:
 *   - one token bucket per broker and dimension (messages, payload bytes) lives in Redis:
 *     it refills at the quota's rate (Redis' clock) up to a burst of BURST_SECONDS of it;
 *   - each pod grants PUBLISH packets from a local reserve of tokens it leased from that bucket.
 *     Every flush (FLUSH_MS, jittered) it leases what it expects to need until the next flush
 *     (twice the demand it saw in the last interval, plus STANDING_TOKENS while the broker is
 *     active on the pod, so a client's next message need not wait for a flush), never more than
 *     the bucket holds;
 *   - a packet is admitted while the reserve is positive and costs its size, so a large message
 *     can take the reserve below zero (a debt the next leases pay first): a message larger than
 *     the burst still passes, and the long-run rate is unchanged.
 * Every token granted anywhere came out of the bucket once, so over any T seconds the cluster
 * admits at most rate × (T + BURST_SECONDS) plus what pods held in reserve when the period
 * began (at most one flush's lease each, STANDING_TOKENS at rest) plus one message per pod (the
 * debt): under sustained
 * load over a few seconds, within 10% of the setting (test/quotas/cluster-rate.test.ts). A pod
 * that exhausts its reserve refuses until its next lease (≤ FLUSH_MS): the bucket keeps what it
 * refills meanwhile (its burst covers more than one flush), so little of the budget is lost.
 */

/** How long the pods wait between flushes (usage deltas, connection counts, leases), ms. */
export const FLUSH_MS = 100
/** Capacity of a rate bucket, in seconds of its rate (≥ 2 flushes, so nothing refills into a full bucket between leases). */
export const BURST_SECONDS = 0.25
/** Tokens a pod keeps leased for a broker with clients on it, at rest (per dimension). */
export const STANDING_TOKENS = 2
/** An idle bucket is forgotten after this long (it comes back full, which a burst allows anyway). */
export const BUCKET_IDLE_MS = 10_000

/** One dimension of a token bucket as stored: tokens (fractional) at a time (ms). */
export interface BucketState {
  readonly tokens: number
  readonly at: number
}

/** Bucket capacity for a rate (tokens per second): BURST_SECONDS of it, at least one token. */
export function bucketCapacity (ratePerSecond: number): number {
  return Math.max(1, ratePerSecond * BURST_SECONDS)
}

/** Tokens in the bucket at `now`: refilled at the rate since `at`, capped at capacity; a new bucket is full. */
export function refill (state: BucketState | undefined, now: number, ratePerSecond: number): number {
  const capacity = bucketCapacity(ratePerSecond)
  if (state === undefined) return capacity
  const elapsed = Math.max(0, now - state.at)
  return Math.min(capacity, state.tokens + elapsed * ratePerSecond / 1000)
}

/** Takes up to `want` whole tokens from the bucket at `now`: the grant and the bucket after it. */
export function lease (state: BucketState | undefined, now: number, ratePerSecond: number, want: number): { granted: number, state: BucketState } {
  const tokens = refill(state, now, ratePerSecond)
  const granted = Math.max(0, Math.min(Math.floor(want), Math.floor(tokens)))
  return { granted, state: { tokens: tokens - granted, at: now } }
}

/**
 * How many tokens a pod asks for at a flush: twice the demand it saw in the last interval
 * (admitted and refused alike) plus STANDING_TOKENS while the broker is active here, less what
 * it still holds (a debt adds to it), never more than the bucket's capacity.
 */
export function wanted (demand: number, reserve: number, ratePerSecond: number, active: boolean): number {
  if (ratePerSecond <= 0) return 0
  const target = 2 * demand + (active ? STANDING_TOKENS : 0)
  return Math.max(0, Math.min(bucketCapacity(ratePerSecond), Math.ceil(target - reserve)))
}

/** A local reserve admits a packet while it is positive (the packet may take it below zero). */
export function mayTake (reserve: number): boolean {
  return reserve > 0
}
