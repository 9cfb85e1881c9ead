import { lease, type BucketState } from './budget.js'
import { addCounts, emptyCounts, hourOf, HOUR_MS, isEmpty, minuteOf, MINUTE_MS, MINUTE_RETENTION_MS, USAGE_RETENTION_MS, type UsageCounts, type UsagePlan } from './usage-buckets.js'

/**
 * Where the quota engine keeps what pods share: each pod's connection count per broker (with a
 * lease, so a dead pod's count stops counting), the rate buckets, the usage counters and the
 * retained topics of brokers with a maxRetained quota. Redis in cluster mode (redis-store.ts);
 * this process's memory in embedded mode (MemoryQuotaStore below, also usable by several engines
 * in one process).
 */

export interface RateLease {
  readonly messagesPerSecond: number
  readonly bytesPerSecond: number
  readonly wantMessages: number
  readonly wantBytes: number
}

/** One broker's flush from one pod: all optional, one round trip. */
export interface SyncRequest {
  /** This pod's live connections of the broker (absent: unchanged, but its lease is renewed when `renew`). */
  readonly connections?: number
  /** Renew this pod's connection lease. */
  readonly renew?: boolean
  /** Usage since the last flush, counted in the bucket of `at` (ms, this pod's clock). */
  readonly usage?: UsageCounts
  readonly at: number
  readonly rate?: RateLease
}

export interface SyncReply {
  readonly grantedMessages: number
  readonly grantedBytes: number
  /** Live connections of the broker, cluster-wide (dead pods' counts dropped). */
  readonly connections: number
}

export interface QuotaStore {
  /** Pod id the store writes as. */
  readonly pod: string
  sync (brokerId: string, request: SyncRequest): Promise<SyncReply>
  /**
   * Atomically: admitted when the other live pods' counts plus `count` (this pod's, including
   * the candidate) are within `limit`; then `count` is recorded as this pod's.
   */
  admitConnection (brokerId: string, count: number, limit: number): Promise<boolean>
  /** Retained topics of the broker: true when `topic` is retained already or fits within `max` (then added); `clearing` removes it. */
  admitRetained (brokerId: string, topic: string, clearing: boolean, max: number): Promise<boolean>
  usage (brokerId: string, plan: UsagePlan): Promise<UsageCounts>
  /** Drops this pod's connection entries (graceful stop). */
  release (brokerIds: readonly string[]): Promise<void>
  close (): Promise<void>
}

interface SharedState {
  readonly conns: Map<string, Map<string, { count: number, expires: number }>>
  readonly buckets: Map<string, { messages?: BucketState, bytes?: BucketState }>
  readonly usage: Map<string, Map<string, UsageCounts>>
  readonly retained: Map<string, Set<string>>
}

/** The state several MemoryQuotaStores share (pods of one process, in tests). */
export function memoryQuotaState (): SharedState {
  return { conns: new Map(), buckets: new Map(), usage: new Map(), retained: new Map() }
}

/** Embedded mode: the same rules as the Redis store, in this process (one pod, or several sharing `state`). */
export class MemoryQuotaStore implements QuotaStore {
  readonly pod: string
  readonly #state: SharedState
  readonly #leaseTtlMs: number
  readonly #clock: () => number

  constructor (options: { pod: string, leaseTtlMs: number, state?: SharedState, clock?: () => number }) {
    this.pod = options.pod
    this.#state = options.state ?? memoryQuotaState()
    this.#leaseTtlMs = options.leaseTtlMs
    this.#clock = options.clock ?? Date.now
  }

  #liveConnections (brokerId: string, now: number, except?: string): number {
    const pods = this.#state.conns.get(brokerId)
    if (pods === undefined) return 0
    let total = 0
    for (const [pod, entry] of pods) {
      if (entry.expires <= now) pods.delete(pod)
      else if (pod !== except) total += entry.count
    }
    return total
  }

  #setConnections (brokerId: string, count: number, now: number): void {
    let pods = this.#state.conns.get(brokerId)
    if (pods === undefined) this.#state.conns.set(brokerId, pods = new Map())
    if (count > 0) pods.set(this.pod, { count, expires: now + this.#leaseTtlMs })
    else pods.delete(this.pod)
  }

  async sync (brokerId: string, request: SyncRequest): Promise<SyncReply> {
    const now = this.#clock()
    if (request.connections !== undefined) this.#setConnections(brokerId, request.connections, now)
    else if (request.renew === true) {
      const entry = this.#state.conns.get(brokerId)?.get(this.pod)
      if (entry !== undefined) entry.expires = now + this.#leaseTtlMs
    }
    if (request.usage !== undefined && !isEmpty(request.usage)) this.#count(brokerId, request.usage, request.at)
    let grantedMessages = 0
    let grantedBytes = 0
    const rate = request.rate
    if (rate !== undefined) {
      let bucket = this.#state.buckets.get(brokerId)
      if (bucket === undefined) this.#state.buckets.set(brokerId, bucket = {})
      if (rate.messagesPerSecond > 0 && rate.wantMessages > 0) {
        const taken = lease(bucket.messages, now, rate.messagesPerSecond, rate.wantMessages)
        bucket.messages = taken.state
        grantedMessages = taken.granted
      }
      if (rate.bytesPerSecond > 0 && rate.wantBytes > 0) {
        const taken = lease(bucket.bytes, now, rate.bytesPerSecond, rate.wantBytes)
        bucket.bytes = taken.state
        grantedBytes = taken.granted
      }
    }
    return { grantedMessages, grantedBytes, connections: this.#liveConnections(brokerId, now) }
  }

  #count (brokerId: string, delta: UsageCounts, at: number): void {
    let buckets = this.#state.usage.get(brokerId)
    if (buckets === undefined) this.#state.usage.set(brokerId, buckets = new Map())
    for (const key of [`m:${minuteOf(at)}`, `h:${hourOf(at)}`]) {
      const counts = buckets.get(key) ?? emptyCounts()
      buckets.set(key, addCounts(counts, delta))
    }
    // Forget what Redis would have expired.
    for (const key of buckets.keys()) {
      const [kind, index] = key.split(':') as [string, string]
      const end = kind === 'm' ? (Number(index) + 1) * MINUTE_MS + MINUTE_RETENTION_MS : (Number(index) + 1) * HOUR_MS + USAGE_RETENTION_MS
      if (end < at) buckets.delete(key)
    }
  }

  async admitConnection (brokerId: string, count: number, limit: number): Promise<boolean> {
    const now = this.#clock()
    if (this.#liveConnections(brokerId, now, this.pod) + count > limit) return false
    this.#setConnections(brokerId, count, now)
    return true
  }

  async admitRetained (brokerId: string, topic: string, clearing: boolean, max: number): Promise<boolean> {
    let topics = this.#state.retained.get(brokerId)
    if (topics === undefined) this.#state.retained.set(brokerId, topics = new Set())
    if (clearing) { topics.delete(topic); return true }
    if (topics.has(topic)) return true
    if (max > 0 && topics.size >= max) return false
    topics.add(topic)
    return true
  }

  async usage (brokerId: string, plan: UsagePlan): Promise<UsageCounts> {
    const buckets = this.#state.usage.get(brokerId)
    const total = emptyCounts()
    if (buckets === undefined) return total
    for (const h of plan.hours) { const c = buckets.get(`h:${h}`); if (c !== undefined) addCounts(total, c) }
    for (const m of plan.minutes) { const c = buckets.get(`m:${m}`); if (c !== undefined) addCounts(total, c) }
    return total
  }

  async release (brokerIds: readonly string[]): Promise<void> {
    for (const id of brokerIds) this.#state.conns.get(id)?.delete(this.pod)
  }

  async close (): Promise<void> {}
}
