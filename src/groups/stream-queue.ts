import type { FaultMetrics } from '../metrics/faults.js'
import { shareStreamKey } from '../cluster/keys.js'
import { closeRedisClient, createRedisClient, type RedisClient, type RedisSettings } from '../cluster/redis.js'
import type { Logger } from '../logger.js'
import { BlockingPool } from './blocking-pool.js'
import { ClusterGroups } from './cluster-groups.js'
import type { ShareMetrics } from './metrics.js'
import type { ShareFilter } from './parse.js'
import type { GroupQueue, QueueBackend, ShareMessage } from './queue.js'
import { encodeEntry } from './stream-codec.js'
import { StreamGroupQueue, CONSUMER_GROUP } from './stream-group.js'

export interface StreamQueueOptions {
  readonly nodeId: string
  readonly maxLength: number
  readonly maxAgeMs: number
  /** `share.maxBytes`: memory of one group's stream as Redis reports it (MEMORY USAGE); 0: no bound. */
  readonly maxBytes?: number
  readonly claimIdleMs: number
  readonly blockingReads: number
  readonly logger: Logger
  readonly metrics: ShareMetrics
  readonly faults?: FaultMetrics | undefined
}

/**
 * Trims one group's stream by age (MINID), length (MAXLEN) and, with ARGV[4] > 0, bytes: when
 * the stream's memory (MEMORY USAGE, Redis' own estimate) is above ARGV[4], the oldest entries go
 * in proportion (the bytes bound is approximate, the entries' sizes being unknown here). Reports
 * what it removed, with the stream's length and the consumer group's pending count, in one round
 * trip. Atomic, so when several pods sweep the same group each removed entry is counted once.
 */
const TRIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0, 0} end
local byAge = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
local byLength = redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
local byBytes = 0
local maxBytes = tonumber(ARGV[4])
if maxBytes > 0 then
  local used = redis.call('MEMORY', 'USAGE', KEYS[1])
  if used and used > maxBytes then
    local len = redis.call('XLEN', KEYS[1])
    byBytes = redis.call('XTRIM', KEYS[1], 'MAXLEN', math.floor(len * maxBytes / used))
  end
end
local length = redis.call('XLEN', KEYS[1])
local ok, summary = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[3])
local pending = 0
if ok then pending = summary[1] end
return {byLength, byAge, length, pending, byBytes}
`

/**
 * Adds several entries to one group's stream in one call (the entries of one event-loop turn):
 * ARGV holds header, payload pairs. NOMKSTREAM as for one entry: a group forgotten meanwhile (its
 * stream expired) does not come back empty-handed.
 */
const XADD_MANY_SCRIPT = `
for i = 1, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'NOMKSTREAM', '*', 'm', ARGV[i], 'p', ARGV[i + 1])
end
return #ARGV / 2
`

type XaddManyCommand = (key: string, ...entries: Array<string | Buffer>) => Promise<number>

/** The entries one event-loop turn queued for one group's stream, and who waits for them. */
interface PendingAdds {
  readonly fields: Array<string | Buffer>
  readonly done: Promise<void>
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/** Most entries in one call: bounds the arguments of one command and how long the script runs. */
const MAX_ADDS_PER_CALL = 1000

type TrimCommand = (key: string, maxLength: number, minId: string, group: string, maxBytes: number) => Promise<[number, number, number, number, number]>

/**
 * Cluster mode: each group's queue is a Redis Stream with one consumer group; the publishing pod
 * XADDs a message once per matching group, pods with members read it with XREADGROUP (one
 * blocking read per member with room, so members take turns cluster-wide), acknowledge it with
 * XACK (and XDEL) once the member has, and claim with XAUTOCLAIM what a dead pod left pending
 * longer than `claimIdleMs`.
 */
export class StreamQueueBackend implements QueueBackend {
  readonly #commands: RedisClient
  readonly #subscriber: RedisClient
  readonly #pool: BlockingPool
  readonly #groups: ClusterGroups
  readonly #options: StreamQueueOptions
  readonly #open = new Map<string, StreamGroupQueue>()
  /** Entries of this event-loop turn by stream key, written together at its end. */
  #adds = new Map<string, PendingAdds>()
  #closed = false

  private constructor (commands: RedisClient, subscriber: RedisClient, pool: BlockingPool, groups: ClusterGroups, options: StreamQueueOptions) {
    this.#commands = commands
    this.#subscriber = subscriber
    this.#pool = pool
    this.#groups = groups
    this.#options = options
  }

  static async start (settings: RedisSettings, options: StreamQueueOptions): Promise<StreamQueueBackend> {
    const { nodeId, logger } = options
    const commands = createRedisClient(settings, { role: 'share', nodeId, logger, autoPipelining: true })
    const subscriber = createRedisClient(settings, { role: 'share-sub', nodeId, logger, pubsub: true })
    for (const conn of [commands, subscriber]) conn.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis share connection error'))
    commands.defineCommand('starlingShareTrim', { numberOfKeys: 1, lua: TRIM_SCRIPT })
    commands.defineCommand('starlingShareXaddMany', { numberOfKeys: 1, lua: XADD_MANY_SCRIPT })
    const groups = new ClusterGroups(commands, subscriber, { maxAgeMs: options.maxAgeMs, logger })
    try {
      await groups.start()
    } catch (err) {
      commands.disconnect()
      subscriber.disconnect()
      throw err
    }
    const pool = new BlockingPool(settings, { nodeId, logger, max: options.blockingReads })
    return new StreamQueueBackend(commands, subscriber, pool, groups, options)
  }

  async join (share: ShareFilter): Promise<GroupQueue> {
    const key = shareStreamKey(share.key)
    await createConsumerGroup(this.#commands, key)
    await this.#commands.pexpire(key, 2 * this.#options.maxAgeMs)
    await this.#groups.announce(share)
    const queue = new StreamGroupQueue(share, key, {
      commands: this.#commands,
      pool: this.#pool,
      nodeId: this.#options.nodeId,
      claimIdleMs: this.#options.claimIdleMs,
      logger: this.#options.logger,
      faults: this.#options.faults,
      onClose: (closed) => { if (this.#open.get(share.key) === closed) this.#open.delete(share.key) },
      recreate: async () => await createConsumerGroup(this.#commands, key)
    })
    this.#open.set(share.key, queue)
    return queue
  }

  groups (): readonly ShareFilter[] {
    return this.#groups.groups()
  }

  /**
   * Entries queued in one event-loop turn go to each stream together at the turn's end (one call
   * per group instead of one per message: the per-command cost in the pod and in Redis was most
   * of a group message's extra cost over plain delivery). Every caller still resolves only once
   * its entry is stored (the publisher's PUBACK waits for it), in the order they were queued.
   */
  async enqueue (shares: readonly ShareFilter[], message: ShareMessage): Promise<void> {
    const [, header, , payload] = encodeEntry(message)
    if (this.#adds.size === 0) setImmediate(() => this.#writeAdds())
    if (shares.length === 1) {
      await this.#add(shareStreamKey((shares[0] as ShareFilter).key), header, payload)
      return
    }
    await Promise.all(shares.map(async (share) => await this.#add(shareStreamKey(share.key), header, payload)))
  }

  #add (key: string, header: string, payload: Buffer): Promise<void> {
    let pending = this.#adds.get(key)
    if (pending === undefined) {
      let resolve!: () => void
      let reject!: (err: unknown) => void
      const done = new Promise<void>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
      pending = { fields: [], done, resolve, reject }
      this.#adds.set(key, pending)
    }
    pending.fields.push(header, payload)
    // A full call goes now; later entries of this turn follow it on the same connection, in order.
    if (pending.fields.length >= 2 * MAX_ADDS_PER_CALL) {
      this.#adds.delete(key)
      this.#write(key, pending)
    }
    return pending.done
  }

  #writeAdds (): void {
    const adds = this.#adds
    this.#adds = new Map()
    for (const [key, pending] of adds) this.#write(key, pending)
  }

  #write (key: string, { fields, resolve, reject }: PendingAdds): void {
    const written = fields.length === 2
      ? this.#commands.xadd(key, 'NOMKSTREAM', '*', 'm', fields[0] as string, 'p', fields[1] as Buffer)
      : (this.#commands as unknown as { starlingShareXaddMany: XaddManyCommand }).starlingShareXaddMany(key, ...fields)
    written.then(() => resolve(), reject)
  }

  async sweep (): Promise<void> {
    if (this.#closed) return
    await this.#groups.refresh()
    await this.#groups.renew([...this.#open.keys()])
    await Promise.all([...this.#open.values()].map(async (queue) => {
      await queue.sweep()
      await this.#commands.pexpire(queue.key, 2 * this.#options.maxAgeMs)
    }))
    const { metrics, maxLength, maxAgeMs } = this.#options
    const minId = `${Math.max(0, Date.now() - maxAgeMs)}-0`
    const trim = (this.#commands as unknown as { starlingShareTrim: TrimCommand }).starlingShareTrim.bind(this.#commands)
    const lag = new Map<string, number>()
    await Promise.all(this.#groups.groups().map(async (share) => {
      const [byLength, byAge, length, pending, byBytes] = await trim(shareStreamKey(share.key), maxLength, minId, CONSUMER_GROUP, this.#options.maxBytes ?? 0)
      if (byLength > 0) metrics.dropped.inc({ group: share.group, reason: 'max_length' }, byLength)
      if (byBytes > 0) metrics.dropped.inc({ group: share.group, reason: 'max_bytes' }, byBytes)
      if (byAge > 0) metrics.dropped.inc({ group: share.group, reason: 'max_age' }, byAge)
      lag.set(share.group, (lag.get(share.group) ?? 0) + Math.max(0, length - pending))
    }))
    metrics.lag.reset()
    for (const [group, n] of lag) metrics.lag.set({ group }, n)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#open.values()].map(async (queue) => { queue.close(); await queue.flushed() }))
    this.#pool.close()
    this.#subscriber.disconnect()
    await closeRedisClient(this.#commands)
  }
}

async function createConsumerGroup (commands: RedisClient, key: string): Promise<void> {
  try {
    await commands.xgroup('CREATE', key, CONSUMER_GROUP, '$', 'MKSTREAM')
  } catch (err) {
    if (!String((err as Error).message).includes('BUSYGROUP')) throw err
  }
}
