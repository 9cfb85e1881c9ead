import type { RedisClient } from '../cluster/redis.js'
import type { Logger } from '../logger.js'
import type { FaultMetrics } from '../metrics/faults.js'
import { StarlingError } from '../errors.js'
import type { BlockingPool } from './blocking-pool.js'
import type { ShareFilter } from './parse.js'
import type { GroupQueue, PendingRead, QueuedMessage } from './queue.js'
import { decodeEntry } from './stream-codec.js'

/** The consumer group of every group stream; each pod reads as consumer `<node id>`. */
export const CONSUMER_GROUP = 'starling'
/** How long one blocking read waits in Redis before it is issued again (bounds shutdown and leftovers). */
const BLOCK_MS = 1000
/** Entries claimed from a dead pod per XAUTOCLAIM, and rounds per sweep. */
const CLAIM_BATCH = 200
const CLAIM_ROUNDS = 10

/**
 * ioredis has `<command>Buffer` methods for every command (Redis and Cluster alike) but leaves
 * these two out of its types; `callBuffer` is not usable instead (under auto-pipelining it loses
 * its command name).
 */
interface BufferCommands {
  xautoclaimBuffer (...args: Array<string | number>): Promise<[Buffer, StreamEntry[]]>
  xreadgroupBuffer (...args: Array<string | number>): Promise<Array<[Buffer, StreamEntry[]]> | null>
}

export interface StreamGroupDeps {
  readonly commands: RedisClient
  readonly pool: BlockingPool
  readonly nodeId: string
  readonly claimIdleMs: number
  readonly logger: Logger
  readonly onClose: (queue: StreamGroupQueue) => void
  readonly recreate: () => Promise<void>
  /** Faults survived (an entry that does not decode), counted and logged rate-limited. */
  readonly faults?: FaultMetrics | undefined
}

type StreamEntry = [Buffer, Buffer[] | null]

/**
 * One group's Redis Stream as this pod reads it. Every entry this pod holds (read for a member,
 * or claimed) is "outstanding" until acknowledged or released; the sweep renews those (XCLAIM to
 * itself resets their idle time), so only the entries of a pod that stopped sweeping (dead) grow
 * idle enough for another pod's XAUTOCLAIM.
 */
export class StreamGroupQueue implements GroupQueue {
  readonly share: ShareFilter
  readonly key: string
  readonly #deps: StreamGroupDeps
  readonly #outstanding = new Set<string>()
  /** Claimed entries, and entries a cancelled read brought back: served before new reads. */
  readonly #buffer: QueuedMessage[] = []
  #acks: string[] = []
  #flush: Promise<void> = Promise.resolve()
  #closed = false

  constructor (share: ShareFilter, key: string, deps: StreamGroupDeps) {
    this.share = share
    this.key = key
    this.#deps = deps
  }

  read (count: number): PendingRead {
    let cancelled = false
    let resolve!: (messages: QueuedMessage[]) => void
    let reject!: (err: unknown) => void
    const result = new Promise<QueuedMessage[]>((_resolve, _reject) => { resolve = _resolve; reject = _reject })
    this.#readLoop(count, () => cancelled).then((messages) => {
      if (this.#closed) this.release(messages)
      else if (cancelled) this.#buffer.push(...messages)
      else resolve(messages)
    }, reject)
    return { result, cancel: () => { cancelled = true; resolve([]) } }
  }

  ack (ids: readonly string[]): void {
    for (const id of ids) this.#outstanding.delete(id)
    if (this.#acks.length === 0) setImmediate(() => this.#flushAcks())
    this.#acks.push(...ids)
  }

  /** Back to the group for any pod: claimable at once (idle time set to claimIdleMs). */
  release (messages: readonly QueuedMessage[]): void {
    const ids = messages.map((m) => m.id)
    for (const id of ids) this.#outstanding.delete(id)
    if (ids.length === 0) return
    this.#deps.commands.xclaim(this.key, CONSUMER_GROUP, this.#deps.nodeId, 0, ...ids, 'IDLE', this.#deps.claimIdleMs, 'JUSTID')
      .catch((err: Error) => this.#deps.logger.warn({ err: err.message, group: this.share.group }, 'releasing group messages failed; they are claimed after share.claimIdleMs'))
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.release(this.#buffer.splice(0))
    this.#deps.onClose(this)
  }

  /** Resolves once acknowledgements sent so far reached Redis. */
  async flushed (): Promise<void> {
    this.#flushAcks()
    await this.#flush
  }

  /** Renews this pod's outstanding entries and claims those a dead pod left idle. */
  async sweep (): Promise<void> {
    const { commands, nodeId, claimIdleMs } = this.#deps
    const ids = [...this.#outstanding]
    for (let i = 0; i < ids.length; i += 500) {
      await commands.xclaim(this.key, CONSUMER_GROUP, nodeId, 0, ...ids.slice(i, i + 500), 'JUSTID')
    }
    let cursor = '0-0'
    for (let round = 0; round < CLAIM_ROUNDS && !this.#closed; round++) {
      const reply = await (commands as unknown as BufferCommands).xautoclaimBuffer(this.key, CONSUMER_GROUP, nodeId, claimIdleMs, cursor, 'COUNT', CLAIM_BATCH)
      for (const message of this.#decode(reply[1], true)) this.#buffer.push(message)
      cursor = reply[0].toString()
      if (cursor === '0-0') break
    }
  }

  async #readLoop (count: number, cancelled: () => boolean): Promise<QueuedMessage[]> {
    const { pool, nodeId } = this.#deps
    while (!cancelled() && !this.#closed) {
      if (this.#buffer.length > 0) return this.#buffer.splice(0, count)
      const conn = await pool.acquire()
      if (conn === undefined) return []
      let reply: Array<[Buffer, StreamEntry[]]> | null
      try {
        if (cancelled() || this.#closed) return []
        reply = await (conn as unknown as BufferCommands).xreadgroupBuffer('GROUP', CONSUMER_GROUP, nodeId, 'COUNT', count, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, '>')
      } catch (err) {
        // The stream expired or was deleted while members remain: start it again.
        if (String((err as Error).message).includes('NOGROUP')) {
          await this.#deps.recreate()
          continue
        }
        throw err
      } finally {
        pool.release(conn)
      }
      const messages = this.#decode(reply?.[0]?.[1] ?? [], false)
      if (messages.length > 0) return messages
    }
    return []
  }

  #decode (entries: readonly StreamEntry[], claimed: boolean): QueuedMessage[] {
    const out: QueuedMessage[] = []
    for (const [rawId, fields] of entries) {
      const id = rawId.toString()
      if (claimed && this.#outstanding.has(id)) continue
      const message = decodeEntry(fields)
      if (message === undefined) {
        // Not an entry this layout wrote (or its data was trimmed, or corrupt): nothing to deliver.
        if (fields !== null && fields !== undefined) this.#deps.faults?.record('group_read_failed', new StarlingError('STARLING_ERR_STORED_VALUE', ['group entry', 'it does not decode']))
        this.ack([id])
        continue
      }
      this.#outstanding.add(id)
      // A claimed entry was delivered before, by a pod that died: the next delivery is a redelivery.
      out.push({ id, message, deliveries: claimed ? 1 : 0 })
    }
    return out
  }

  #flushAcks (): void {
    const ids = this.#acks
    if (ids.length === 0) return
    this.#acks = []
    const { commands } = this.#deps
    // Acknowledged entries leave the stream too: it holds only waiting and in-flight messages.
    this.#flush = Promise.all([
      commands.xack(this.key, CONSUMER_GROUP, ...ids),
      commands.xdel(this.key, ...ids)
    ]).then(() => {}, (err: Error) => {
      this.#deps.logger.warn({ err: err.message, group: this.share.group }, 'acknowledging group messages failed; they are redelivered after share.claimIdleMs')
    })
  }
}
