import { createRequire } from 'node:module'
import type { Logger } from '../logger.js'
import { StarlingError } from '../errors.js'
import { compileFilter, filterMatches } from '../broker/topics.js'
import { pluginRetainedHashKey, pluginRetainedKey, pluginRetainedKeyPrefix, retainedBytesKey, retainedIndexBuiltKey, retainedIndexKey, retainedIndexLockKey, retainedSizeKey, retainedSizesKey, topicOfPluginRetainedKey } from './keys.js'
import type { RedisClient } from './redis.js'
import { fromOrderField, withOrderField } from '../broker/user-properties.js'

/**
 * A lexicographic index of the retained topic names, so a wildcard SUBSCRIBE reads only the
 * topics under the filter's literal prefix instead of every retained message.
 *
 * aedes-persistence-redis 11 keeps retained messages in one HASH `retained` (topic → msgpack
 * packet), or, with Redis Cluster, one key `retained:<encoded topic>` per topic, and answers a
 * wildcard filter with HSCAN / SCAN over all of them. Next to that data this keeps a sorted set
 * `retained-index` of the topic names (all score 0, so ordered bytewise): a filter
 * `site/7/+/temp` reads ZRANGEBYLEX `[site/7/` .. `(site/7/\xff` page by page, keeps the names
 * the filter matches, and fetches only those values. A filter starting with a wildcard still
 * walks every name, but in pages, as the subscriber consumes them.
 *
 * Consistency: standalone/Sentinel write the hash field and the index member in one Lua script.
 * Redis Cluster cannot (every topic key is in its own slot), so there the order of the writes
 * keeps "stored but not indexed" from happening; an index entry whose value is gone is skipped.
 *
 * Existing deployments: at start the index is checked (standalone: HLEN = ZCARD; Cluster: a
 * `retained-index:built` marker) and, if it is incomplete, built in the background in pages by one
 * pod at a time (a lock key); until then this pod answers with the plugin's scan.
 */

interface Msgpack { encode (value: unknown): Buffer, decode (buffer: Buffer): unknown }
// The plugin's own msgpack-lite, resolved from the plugin, so the stored bytes are the plugin's.
const msgpack = createRequire(createRequire(import.meta.url).resolve('aedes-persistence-redis'))('msgpack-lite') as Msgpack

/** Names read per ZRANGEBYLEX / HSCAN / SCAN call, and values per HMGET. */
const PAGE = 1000
const LOCK_TTL_MS = 30000
const WAIT_POLL_MS = 250

/**
 * KEYS: hash, index, sizes, bytes. ARGV: topic[, packet, payload bytes]. Without a packet: clear.
 * The index is touched only when the topic appears or disappears (HSET / HDEL answer 1), not when
 * a retained message is replaced, the common case. `bytes` is the running payload total
 * (limits.maxRetainedBytes), kept exact with each topic's size in `sizes`.
 */
const STORE_LUA = `local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if #ARGV == 1 then
  if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('ZREM', KEYS[2], ARGV[1]) end
  if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then redis.call('DECRBY', KEYS[4], old) end
  return 1
end
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local delta = tonumber(ARGV[3]) - old
if delta ~= 0 then redis.call('INCRBY', KEYS[4], delta) end
return 1`
/** KEYS: hash, index. ARGV: topics. Indexes those still in the hash, unindexes the others. */
const RECONCILE_LUA = `for _, topic in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[1], topic) == 1 then redis.call('ZADD', KEYS[2], 0, topic) else redis.call('ZREM', KEYS[2], topic) end
end
return #ARGV`

type Packet = Record<string, unknown> & { topic: string }
interface RetainedPacket { topic: string, payload: Buffer | string }

export interface RetainedIndexOptions {
  /** The persistence connection (ioredis `keyPrefix` = the persistence prefix). */
  readonly conn: RedisClient
  /** Redis Cluster: the plugin's per-topic keys instead of its hash. */
  readonly cluster: boolean
  readonly logger?: Logger | undefined
  /** A stored retained message that does not decode was skipped. */
  readonly onCorrupt?: ((err: Error) => void) | undefined
  /**
   * Index names one lookup reads at most (`limits.maxRetainedScan`): a filter starting with a
   * wildcard that matches few topics would otherwise read every name. Beyond it the lookup ends
   * and `onScanCapped` is called. Default: unbounded.
   */
  readonly maxScan?: number | undefined
  readonly onScanCapped?: (() => void) | undefined
}

/** One wildcard filter's range: names starting with `prefix` ('' = every name). */
function literalPrefix (filter: string): string {
  const levels = filter.split('/')
  const first = levels.findIndex((level) => level === '+' || level === '#')
  return first <= 0 ? '' : `${levels.slice(0, first).join('/')}/`
}

/** The fewest prefixes covering all: one that starts with another is dropped. */
function coveringPrefixes (prefixes: readonly string[]): string[] {
  const out: string[] = []
  for (const p of [...new Set(prefixes)].sort()) {
    if (!out.some((kept) => p.startsWith(kept))) out.push(p)
  }
  return out
}

function hasWildcard (filter: string): boolean {
  return filter.includes('+') || filter.includes('#')
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

export class RetainedIndex {
  readonly #conn: RedisClient
  readonly #cluster: boolean
  readonly #logger: Logger | undefined
  readonly #onCorrupt: ((err: Error) => void) | undefined
  readonly #maxScan: number
  readonly #onScanCapped: (() => void) | undefined
  #ready = false
  #started = false

  constructor (options: RetainedIndexOptions) {
    this.#maxScan = options.maxScan ?? Infinity
    this.#onScanCapped = options.onScanCapped
    this.#conn = options.conn
    this.#cluster = options.cluster
    this.#logger = options.logger
    this.#onCorrupt = options.onCorrupt
    if (!this.#cluster) {
      this.#conn.defineCommand('starlingRetainedStore', { numberOfKeys: 4, lua: STORE_LUA })
      this.#conn.defineCommand('starlingRetainedReconcile', { numberOfKeys: 2, lua: RECONCILE_LUA })
    }
  }

  /** True once this pod knows the index is complete; until then lookups fall back to the plugin. */
  get ready (): boolean {
    return this.#ready
  }

  /** Retained messages stored: the plugin's hash (standalone, Sentinel) or the index (Redis Cluster). */
  async count (): Promise<number> {
    return this.#cluster ? await this.#conn.zcard(retainedIndexKey()) : await this.#conn.hlen(pluginRetainedHashKey())
  }

  /**
   * Payload bytes of all retained messages, cluster-wide (limits.maxRetainedBytes). Counted from
   * the writes of this version on: retained messages stored by an older version count 0 until
   * replaced or cleared.
   */
  async bytes (): Promise<number> {
    return Math.max(0, Number(await this.#conn.get(retainedBytesKey()) ?? 0))
  }

  /** Stores (or, with an empty payload, clears) a retained message and its index entry. */
  async store (packet: RetainedPacket): Promise<void> {
    const clear = packet.payload.length === 0
    if (!this.#cluster) {
      const args = clear ? [packet.topic] : [packet.topic, msgpack.encode(withOrderField(packet)), String(packet.payload.length)]
      await this.#custom('starlingRetainedStore')(pluginRetainedHashKey(), retainedIndexKey(), retainedSizesKey(), retainedBytesKey(), ...args)
      return
    }
    // Redis Cluster: the topic's size key is swapped atomically (SET … GET, GETDEL) and the total
    // moved by the difference, so concurrent writes of one topic still add up; a crash between
    // the two commands leaves the total off by one message (re-counted when that topic changes).
    await this.#storeCluster(packet, clear)
    const size = clear ? 0 : packet.payload.length
    const previous = clear ? await this.#conn.getdel(retainedSizeKey(packet.topic)) : await this.#conn.set(retainedSizeKey(packet.topic), size, 'GET')
    const delta = size - Number(previous ?? 0)
    if (delta !== 0) await this.#conn.incrby(retainedBytesKey(), delta)
  }

  async #storeCluster (packet: RetainedPacket, clear: boolean): Promise<void> {
    // Redis Cluster: no atomic write across slots. Index before and after the value, and on a
    // clear re-check the value, so a concurrent set and clear never leave a value unindexed.
    const key = pluginRetainedKey(packet.topic)
    if (clear) {
      await this.#conn.del(key)
      await this.#conn.zrem(retainedIndexKey(), packet.topic)
      if (await this.#conn.exists(key) === 1) await this.#conn.zadd(retainedIndexKey(), 0, packet.topic)
      return
    }
    await Promise.all([this.#conn.zadd(retainedIndexKey(), 0, packet.topic), this.#conn.set(key, msgpack.encode(withOrderField(packet)))])
    await this.#conn.zadd(retainedIndexKey(), 0, packet.topic)
  }

  /** Retained messages matching any of `patterns` (each topic once), read page by page. */
  async * lookup (patterns: readonly string[]): AsyncGenerator<Packet> {
    const exact = new Set<string>()
    const wild: string[] = []
    for (const p of patterns) {
      if (!hasWildcard(p)) { exact.add(p); continue }
      wild.push(p)
      // [MQTT-4.7.1-2] `a/b/#` also matches `a/b`, which is outside the `a/b/` range.
      if (p.endsWith('/#') && !hasWildcard(p.slice(0, -2))) exact.add(p.slice(0, -2))
    }
    const sent = new Set<string>()
    for (const packet of await this.#fetch([...exact])) {
      sent.add(packet.topic)
      if (patterns.some((p) => filterMatches(p, packet.topic))) yield packet
    }
    if (wild.length === 0) return
    const matchers = wild.map(compileFilter)
    const maxScan = this.#maxScan
    let scanned = 0
    for (const prefix of coveringPrefixes(wild.map(literalPrefix))) {
      for await (const names of this.#names(prefix)) {
        scanned += names.length
        if (scanned > maxScan) {
          this.#onScanCapped?.()
          return
        }
        const topics = names.filter((name) => !sent.has(name) && matchers.some((matches) => matches(name)))
        if (topics.length > 0) yield * await this.#fetch(topics)
      }
    }
  }

  /** Checks the index once and, if incomplete, builds it in the background (does not throw). */
  start (): void {
    if (this.#started) return
    this.#started = true
    void this.#prepare()
  }

  async #prepare (): Promise<void> {
    let failed = false
    // Ends when this pod closes its connection (or, bounded, after ~70 h of attempts every 250 ms).
    for (let attempt = 0; attempt < 1e6 && this.#conn.status !== 'end'; attempt++) {
      try {
        if (await this.#complete()) { this.#ready = true; return }
        if (await this.#conn.set(retainedIndexLockKey(), `${process.pid}`, 'PX', LOCK_TTL_MS, 'NX') === 'OK') {
          try {
            await this.#build()
          } finally {
            await this.#conn.del(retainedIndexLockKey())
          }
          this.#ready = true
          return
        }
      } catch (err) {
        if (!failed) this.#logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'retained index not ready yet; wildcard lookups scan every retained message meanwhile')
        failed = true
      }
      await sleep(WAIT_POLL_MS) // another pod is building it, or Redis is away
    }
  }

  async #complete (): Promise<boolean> {
    if (this.#cluster) return await this.#conn.exists(retainedIndexBuiltKey()) === 1
    // One MULTI, so a store between the two counts cannot make them differ (or agree) by chance.
    const replies = await this.#conn.multi().hlen(pluginRetainedHashKey()).zcard(retainedIndexKey()).exec()
    const [hlen, zcard] = (replies ?? []).map(([err, value]) => err === null ? Number(value) : Number.NaN)
    return hlen !== undefined && hlen === zcard
  }

  /** Adds every stored topic to the index and, standalone, drops index entries whose value is gone. */
  async #build (): Promise<void> {
    const started = Date.now()
    let topics = 0
    const renew = async (): Promise<void> => { await this.#conn.pexpire(retainedIndexLockKey(), LOCK_TTL_MS) }
    if (this.#cluster) {
      for await (const batch of this.#clusterTopics()) {
        if (batch.length > 0) await this.#conn.zadd(retainedIndexKey(), ...batch.flatMap((topic) => [0, topic]))
        topics += batch.length
        await renew()
      }
      await this.#conn.set(retainedIndexBuiltKey(), String(Date.now()))
    } else {
      const reconcile = this.#custom('starlingRetainedReconcile')
      let cursor = '0'
      do {
        const [next, entries] = await this.#conn.hscanBuffer(pluginRetainedHashKey(), cursor, 'COUNT', PAGE)
        cursor = next.toString()
        const fields = entries.filter((_, i) => i % 2 === 0).map((field) => field.toString())
        if (fields.length > 0) await reconcile(pluginRetainedHashKey(), retainedIndexKey(), ...fields)
        topics += fields.length
        await renew()
      } while (cursor !== '0')
      for await (const names of this.#names('')) {
        await reconcile(pluginRetainedHashKey(), retainedIndexKey(), ...names)
        await renew()
      }
    }
    this.#logger?.info({ topics, ms: Date.now() - started }, 'retained index built')
  }

  /** Redis Cluster: the topics of the plugin's `retained:*` keys on every master, in batches. */
  async * #clusterTopics (): AsyncGenerator<string[]> {
    const cluster = this.#conn as unknown as { options: { keyPrefix?: string }, nodes (role: string): Array<{ scanStream (o: object): AsyncIterable<string[]> }> }
    const prefix = `${cluster.options.keyPrefix ?? ''}${pluginRetainedKeyPrefix()}`
    for (const node of cluster.nodes('master')) {
      for await (const keys of node.scanStream({ match: `${prefix}*`, count: PAGE })) {
        yield keys.map((key) => topicOfPluginRetainedKey(key, prefix))
      }
    }
  }

  /** Index names starting with `prefix`, a page at a time (the next page is read meanwhile). */
  async * #names (prefix: string): AsyncGenerator<string[]> {
    const max: string | Buffer = prefix === '' ? '+' : Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])])
    const page = async (min: string | Buffer): Promise<string[]> =>
      await this.#conn.zrangebylex(retainedIndexKey(), min, max, 'LIMIT', 0, PAGE)
    let next: Promise<string[]> | undefined = page(prefix === '' ? '-' : `[${prefix}`)
    while (next !== undefined) {
      const names: string[] = await next
      const last = names[names.length - 1]
      next = names.length === PAGE && last !== undefined ? page(Buffer.from(`(${last}`)) : undefined
      next?.catch(() => {}) // awaited on the next turn; not unhandled if the reader stops early
      yield names
    }
  }

  /** The stored packets of `topics` (missing ones skipped). */
  async #fetch (topics: readonly string[]): Promise<Packet[]> {
    if (topics.length === 0) return []
    const values: Array<Buffer | null> = []
    for (let i = 0; i < topics.length; i += PAGE) {
      const chunk = topics.slice(i, i + PAGE)
      values.push(...this.#cluster
        ? await Promise.all(chunk.map(async (topic) => await this.#conn.getBuffer(pluginRetainedKey(topic))))
        : await this.#conn.hmgetBuffer(pluginRetainedHashKey(), ...chunk))
    }
    const packets: Packet[] = []
    for (const value of values) {
      if (value === null) continue
      // one bad value must not fail the subscriber's whole lookup: skipped and reported
      let packet: Packet | null
      try {
        packet = msgpack.decode(value) as Packet | null
      } catch (err) {
        this.#onCorrupt?.(new StarlingError('STARLING_ERR_STORED_VALUE', ['retained message', (err as Error).message], { cause: err }))
        continue
      }
      if (packet !== null && typeof packet === 'object' && typeof packet.topic === 'string' && (Buffer.isBuffer(packet.payload) || typeof packet.payload === 'string')) packets.push(fromOrderField(packet)) // [MQTT-3.3.2-18]
      else this.#onCorrupt?.(new StarlingError('STARLING_ERR_STORED_VALUE', ['retained message', 'not a PUBLISH']))
    }
    return packets
  }

  #custom (name: string): (...args: Array<string | Buffer>) => Promise<unknown> {
    const fn = (this.#conn as unknown as Record<string, (...args: Array<string | Buffer>) => Promise<unknown>>)[name]
    if (fn === undefined) throw new StarlingError('STARLING_ERR_REDIS_SCRIPT', [name, 'not defined on this connection'])
    return fn.bind(this.#conn)
  }
}
