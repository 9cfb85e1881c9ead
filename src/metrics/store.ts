import type { Registry } from 'prom-client'
import { CallbackGauge } from './fast-histogram.js'
import { withTimeout } from '../util/timeout.js'

/**
 * Gauges of what the broker stores: retained messages, persistent sessions, their queued
 * messages, and the subscriptions of the clients connected to this pod. Read when scraped,
 * from cheap sources only, and cached for CACHE_MS so several scrapers cost one read:
 *   - embedded mode: aedes' in-memory persistence (`countOffline()`, and `storeSizes()`,
 *     one of our aedes-persistence patches);
 *   - cluster mode: `countOffline()` (SCARD of the session set, plus the in-memory trie) and,
 *     on the persistence connection, HLEN of the retained hash (ZCARD of the retained index on
 *     Redis Cluster) and the offline queue total, summed incrementally (see QueueDepthScan).
 * Redis reads are bounded by READ_TIMEOUT_MS; a slow or failed read keeps the previous value.
 */

const CACHE_MS = 1000
const READ_TIMEOUT_MS = 1000
/** Sessions whose queue length one refresh reads at most (SSCAN + one LLEN each, pipelined). */
const QUEUE_SCAN_BUDGET = 2000
const QUEUE_SCAN_COUNT = 500

/** The aedes persistence calls used here (in-memory and Redis). */
interface StorePersistence {
  countOffline (): Promise<{ subsCount: number, clientsCount: number }>
  /** Our aedes-persistence patch (in-memory persistence): retained and queued message counts. */
  storeSizes? (): { retained: number, queued: number }
  /** Starling's Redis persistence: one session's queue length (one LLEN). */
  outgoingQueueLength? (client: { id: string }): Promise<number>
  /** aedes' default in-memory persistence is a callback wrapper around the async one. */
  readonly asyncPersistence?: StorePersistence
}

interface StoreClient { readonly _subCount?: number, readonly subscriptions?: Record<string, unknown> }

/** The broker fields used here. */
export interface StoreBroker {
  readonly persistence: object
  readonly clients: Readonly<Record<string, StoreClient>>
}

/** The commands used on the persistence connection (its key prefix applies). */
export interface StoreRedis {
  hlen (key: string): Promise<number>
  zcard (key: string): Promise<number>
  sscan (key: string, cursor: string, count: 'COUNT', n: number): Promise<[string, string[]]>
}

interface Counts {
  retained?: number
  sessions?: number
  queued?: number
  subscriptions?: number
}

/** Key names, relative to the persistence prefix (aedes-persistence-redis 11 and src/cluster/keys.ts). */
export interface StoreKeys {
  /** SET of the ids of sessions with stored subscriptions (the plugin's `clients`). */
  readonly sessions: string
  /** HASH topic → retained message (standalone and Sentinel). */
  readonly retainedHash: string
  /** ZSET of retained topic names (Redis Cluster, where retained messages are separate keys). */
  readonly retainedIndex: string
}

/** `work`'s value, or undefined when it fails or takes longer than `ms`. */
function valueWithin<T> (work: Promise<T>, ms: number): Promise<T | undefined> {
  return withTimeout(work.catch(() => undefined), ms, () => undefined)
}

/**
 * The total of the sessions' queue lengths, read in steps: each refresh continues an SSCAN of
 * the session set for at most QUEUE_SCAN_BUDGET sessions; the total is published when a pass
 * over the whole set completes (so with many sessions it lags by a few scrapes, never scans
 * everything at once).
 */
class QueueDepthScan {
  #cursor = '0'
  #partial = 0
  #total: number | undefined
  #running: Promise<void> | undefined

  get total (): number | undefined {
    return this.#total
  }

  /** Runs one step unless one is still running; resolves when the current step ends. */
  step (redis: StoreRedis, sessionsKey: string, length: (id: string) => Promise<number>): Promise<void> {
    this.#running ??= this.#step(redis, sessionsKey, length).finally(() => { this.#running = undefined })
    return this.#running
  }

  async #step (redis: StoreRedis, sessionsKey: string, length: (id: string) => Promise<number>): Promise<void> {
    let read = 0
    try {
      do {
        const [next, ids] = await redis.sscan(sessionsKey, this.#cursor, 'COUNT', QUEUE_SCAN_COUNT)
        const lengths = await Promise.all(ids.map(length))
        for (const n of lengths) this.#partial += n
        read += ids.length
        this.#cursor = next
        if (next === '0') {
          this.#total = this.#partial
          this.#partial = 0
          return
        }
      } while (read < QUEUE_SCAN_BUDGET)
    } catch {
      // Start the pass over next time: a partial sum across a failure would be wrong.
      this.#cursor = '0'
      this.#partial = 0
    }
  }
}

export class StoreMetrics {
  #broker: StoreBroker | undefined
  #redis: { client: StoreRedis, cluster: boolean, keys: StoreKeys } | undefined
  readonly #queue = new QueueDepthScan()
  #last: Counts = {}
  #cached: { at: number, counts: Promise<Counts> } | undefined

  constructor (registry: Registry) {
    const read = (field: keyof Counts) => async () => (await this.#counts())[field]
    new CallbackGauge({ name: 'starling_retained_messages', help: 'Retained messages stored (cluster-wide in cluster mode: every pod reports the same value, aggregate with max)', registry, read: read('retained') })
    new CallbackGauge({ name: 'starling_sessions', help: 'Persistent sessions stored with at least one subscription, connected or not (cluster-wide in cluster mode, aggregate with max)', registry, read: read('sessions') })
    new CallbackGauge({ name: 'starling_offline_queue_messages', help: 'Messages stored in the queues of persistent sessions, undelivered or unacknowledged (cluster-wide in cluster mode, aggregate with max)', registry, read: read('queued') })
    new CallbackGauge({ name: 'starling_subscriptions', help: 'Subscriptions of the clients connected to this pod', registry, read: read('subscriptions') })
  }

  /** The broker whose store is reported (set once it exists). */
  attachBroker (broker: StoreBroker): void {
    this.#broker = broker
  }

  /** Cluster mode: the persistence connection, read for the retained and queue counts. */
  attachRedis (client: StoreRedis, cluster: boolean, keys: StoreKeys): void {
    this.#redis = { client, cluster, keys }
  }

  #counts (): Promise<Counts> {
    const now = Date.now()
    if (this.#cached === undefined || now - this.#cached.at >= CACHE_MS) {
      this.#cached = { at: now, counts: this.#read() }
    }
    return this.#cached.counts
  }

  async #read (): Promise<Counts> {
    const broker = this.#broker
    if (broker === undefined) return {}
    const persistence = broker.persistence as StorePersistence
    const counts: Counts = { ...this.#last, subscriptions: localSubscriptions(broker) }
    const memory = typeof persistence.storeSizes === 'function' ? persistence : persistence.asyncPersistence
    const redis = this.#redis
    // The reads run side by side: a scrape waits READ_TIMEOUT_MS at most.
    await Promise.all([
      valueWithin(persistence.countOffline(), READ_TIMEOUT_MS).then((offline) => {
        if (offline !== undefined) counts.sessions = offline.clientsCount
      }),
      (async () => {
        if (typeof memory?.storeSizes === 'function') {
          const sizes = memory.storeSizes()
          counts.retained = sizes.retained
          counts.queued = sizes.queued
        } else if (redis !== undefined) {
          const length = persistence.outgoingQueueLength
          const [retained] = await Promise.all([
            valueWithin(redis.cluster ? redis.client.zcard(redis.keys.retainedIndex) : redis.client.hlen(redis.keys.retainedHash), READ_TIMEOUT_MS),
            typeof length === 'function'
              ? valueWithin(this.#queue.step(redis.client, redis.keys.sessions, (id) => length.call(persistence, { id })), READ_TIMEOUT_MS)
              : undefined
          ])
          if (retained !== undefined) counts.retained = retained
          if (this.#queue.total !== undefined) counts.queued = this.#queue.total
        }
      })()
    ])
    this.#last = counts
    return counts
  }
}

/** Subscriptions of the connected clients (`_subCount` is kept by our aedes patch). */
function localSubscriptions (broker: StoreBroker): number {
  let n = 0
  for (const id in broker.clients) {
    const client = broker.clients[id]
    if (client === undefined) continue
    n += client._subCount ?? Object.keys(client.subscriptions ?? {}).length
  }
  return n
}
