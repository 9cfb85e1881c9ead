import { deserialize, serialize } from 'node:v8'
import { StarlingError } from '../errors.js'
import { outgoingQueueKeys } from './keys.js'
import { OUTGOING_OPS_LUA } from './outgoing-script.js'
import { decodeStored, encodeStored, isCompactStored } from './stored-codec.js'
import type { RedisClient } from './redis.js'
import { USER_PROPERTY_ORDER_FIELD, fromOrderField, userPropertyOrder } from '../broker/user-properties.js'

/**
 * The offline / in-flight queue of persistent sessions in Redis (aedes' `outgoing*` persistence
 * calls), in place of aedes-persistence-redis' (8 commands and as many sequential round trips
 * per delivered QoS 1 message, see docs/benchmarks.md). Per session, under one hash tag so a
 * script touches one Redis Cluster slot (keys relative to the persistence prefix):
 *   oq:{<client id>}     LIST  message refs `<brokerId>:<brokerCounter>`, queue order
 *   oq:{<client id>}:p   HASH  ref → the session's copy of the message (stored-codec.ts), or its
 *                              PUBREL once the client sent PUBREC (QoS 2); and `#<packet id>` → ref,
 *                              `@<ref>` → packet id: the packet id a message went out with (kept
 *                              across pods: resume on any pod sends it again with the same id and
 *                              DUP=1 [MQTT-4.4.0-1])
 * Every call becomes one item of one Lua script (src/cluster/outgoing-script.ts) per session slot; the items issued in
 * one event-loop turn are sent together, in call order, as one EVALSHA (standalone/Sentinel:
 * one for all sessions; Redis Cluster: one per session), so a message costs its sessions one
 * round trip per step (enqueue, sent-with-id, acknowledged) whatever the fan-out.
 */

/** Items per script call; a larger turn is split (a long script blocks Redis). */
const MAX_ITEMS = 500
/** Refs read per HMGET while a session's queue is replayed. */
const STREAM_CHUNK = 200
/** In-flight (client, packet id) → ref entries kept in memory (fallback and the cleared packet). */
const MAX_INFLIGHT = 100_000
/**
 * How long a QoS 1 first delivery's sent-with-id write waits for its PUBACK (which cancels it:
 * neither write nor the ids' deletion then reaches Redis); a write waits this long to twice this.
 */
export const MARK_DELAY_MS = 10


export interface StoredPacket {
  cmd?: string
  brokerId?: string
  brokerCounter?: number | string
  messageId?: number
  qos?: number
  [key: string]: unknown
}

interface ClientRef { readonly id: string }
interface Sub { readonly clientId: string }

function refOf (packet: StoredPacket): string {
  return `${String(packet.brokerId)}:${String(packet.brokerCounter)}`
}

function splitRef (ref: string): { brokerId: string, brokerCounter: number | string } {
  const at = ref.lastIndexOf(':')
  const counter = ref.slice(at + 1)
  const n = Number(counter)
  return { brokerId: ref.slice(0, at), brokerCounter: Number.isSafeInteger(n) ? n : counter }
}

/** What is stored for a queued PUBLISH: aedes-packet's fields, without a packet id (stored-codec.ts). */
function storedCopy (packet: StoredPacket): Buffer {
  let extras: Record<string, unknown> | undefined
  if (Object.hasOwn(packet, 'properties')) extras = { properties: packet.properties }
  // V8 drops the symbol keeping the User Properties' order [MQTT-3.3.2-18]
  const order = userPropertyOrder(packet)
  if (order !== undefined) (extras ??= {})[USER_PROPERTY_ORDER_FIELD] = order
  return encodeStored({
    brokerId: String(packet.brokerId),
    brokerCounter: packet.brokerCounter ?? 0,
    topic: packet.topic as string,
    payload: (packet.payload as Buffer | string | undefined) ?? EMPTY,
    qos: packet.qos ?? 0,
    retain: packet.retain === true,
    dup: packet.dup === true,
    clientId: packet.clientId as string | undefined,
    nl: packet.nl as boolean | undefined,
    messageExpiry: packet.messageExpiry as number | undefined,
    extras
  }, { clientId: Object.hasOwn(packet, 'clientId'), nl: Object.hasOwn(packet, 'nl'), messageExpiry: Object.hasOwn(packet, 'messageExpiry') })
}

const EMPTY = Buffer.alloc(0)
const noop = (): void => {}
const DONE: Promise<void> = Promise.resolve()

/** What is stored for a PUBREL (never the caller's object: aedes' replay copies carry callbacks). */
function storedPubrel (packet: StoredPacket): Record<string, unknown> {
  const copy: Record<string, unknown> = { cmd: 'pubrel', messageId: packet.messageId }
  for (const own of ['reasonCode', 'properties', 'brokerId', 'brokerCounter']) {
    if (packet[own] !== undefined) copy[own] = packet[own]
  }
  return copy
}

type Reply = Buffer | number | null | Array<Buffer | number | null>

/**
 * One queued operation: up to three arguments in fixed fields (no array per operation; a QoS 1
 * delivery makes two of these per message on the subscriber's pod).
 */
interface Item {
  readonly clientId: string
  /** outgoing-script.ts' op letter (`C`: a clear that returns the stored packet). */
  readonly op: 'e' | 'u' | 'r' | 'c' | 'C' | 'k' | 'm' | 'l'
  readonly a1: string | undefined
  readonly a2: string | undefined
  readonly a3: string | Buffer | undefined
  /** The shared message blob of an enqueue (stored once per script call). */
  readonly blob: Buffer | undefined
  readonly resolve: (reply: Reply) => void
  readonly reject: (err: Error) => void
}

type OpTokens = { index: string } & { [op in Item['op']]?: string }

/** What this pod sent under a (client, packet id). */
interface Inflight {
  readonly clientId: string
  readonly messageId: number
  readonly ref: string
  readonly packet: StoredPacket
  /** A QoS 1 first delivery whose sent-with-id write is still held back (MARK_DELAY_MS). */
  unwritten: boolean
}

interface OpsConnection {
  starlingOutgoingOpsBuffer (numKeys: number, ...args: Array<string | Buffer>): Promise<Reply[]>
}

export interface OutgoingStoreOptions {
  readonly conn: RedisClient
  /** Redis Cluster: one script call per session (its keys share one slot). */
  readonly cluster: boolean
  /** A stored entry that does not decode to a PUBLISH or PUBREL was skipped. */
  readonly onCorrupt?: ((err: Error) => void) | undefined
}

/** The entry as stored, if it is one: a PUBLISH with a topic and bytes, or a PUBREL. */
function storedPacket (blob: Buffer): StoredPacket {
  if (isCompactStored(blob)) return fromOrderField(decodeStored(blob) as StoredPacket)
  const packet = deserialize(blob) as StoredPacket | null
  if (packet === null || typeof packet !== 'object') throw new StarlingError('STARLING_ERR_STORED_VALUE', ['offline queue entry', 'not a packet'])
  if (packet.cmd === 'pubrel') return packet
  if (packet.cmd !== 'publish' || typeof packet.topic !== 'string' || !(Buffer.isBuffer(packet.payload) || typeof packet.payload === 'string')) {
    throw new StarlingError('STARLING_ERR_STORED_VALUE', ['offline queue entry', 'not a PUBLISH or PUBREL'])
  }
  return fromOrderField(packet)
}

export class OutgoingStore {
  readonly #conn: RedisClient
  readonly #ops: OpsConnection
  readonly #cluster: boolean
  readonly #onCorrupt: ((err: Error) => void) | undefined
  #pending: Item[] = []
  #scheduled = false
  /**
   * client id → packet id → what was sent under that id from this pod (per session, keyed by the
   * number: no key string built and hashed twice per delivery); an emptied session is dropped.
   */
  readonly #inflight = new Map<string, Map<number, Inflight>>()
  #inflightCount = 0
  /** Held-back sent-with-id writes (MARK_DELAY_MS): made since the timer last fired, and due at its next firing. */
  #marks: Inflight[] = []
  #dueMarks: Inflight[] = []
  #markTimer: NodeJS.Timeout | undefined

  constructor (options: OutgoingStoreOptions) {
    this.#conn = options.conn
    this.#cluster = options.cluster
    this.#onCorrupt = options.onCorrupt
    const conn = options.conn as unknown as Partial<OpsConnection> & { defineCommand (name: string, def: { lua: string }): void }
    if (typeof conn.starlingOutgoingOpsBuffer !== 'function') conn.defineCommand('starlingOutgoingOps', { lua: OUTGOING_OPS_LUA })
    this.#ops = conn as OpsConnection
  }

  enqueue (subs: readonly Sub[], packet: StoredPacket): Promise<void> {
    if (subs.length === 0) return DONE
    let blob: Buffer
    try {
      blob = storedCopy(packet)
    } catch (err) {
      return Promise.reject(err)
    }
    const ref = refOf(packet)
    // one promise and one callback for the whole fan-out (Redis Cluster: one script call per session)
    return new Promise<void>((resolve, reject) => {
      let left = subs.length
      const stored = (): void => { if (--left === 0) resolve() }
      for (const sub of subs) this.#push(sub.clientId, 'e', ref, undefined, undefined, blob, stored, reject)
    })
  }

  /** aedes' outgoingUpdate: a PUBLISH went out with `messageId`, or the client sent PUBREC (PUBREL). */
  update (client: ClientRef, packet: StoredPacket): Promise<void> {
    const messageId = String(packet.messageId)
    if (packet.cmd !== 'pubrel' && packet.dup !== true && packet.qos !== 2) {
      // QoS 1 first delivery: not waited for. The write is queued on the same connection ahead
      // of this session's later operations (its PUBACK's clear, a resume on this pod), so the
      // PUBLISH need not wait a round trip; the clear names the ref kept here, so it works
      // whether or not this write landed. Only if this pod dies (or Redis fails) before it lands
      // is the message resent as a first delivery (new id, DUP=0): still at least once. No
      // promise, no result: the item's callbacks are shared no-ops.
      // The write is held back MARK_DELAY_MS: a PUBACK within it cancels it (and the ids'
      // deletion), so a message acknowledged in time costs Redis its enqueue and its clear only.
      // The connection's end and a replay on this pod write what is held (flushMarks).
      const entry = this.#remember(client.id, packet.messageId as number, refOf(packet), packet, true)
      this.#marks.push(entry)
      this.#markTimer ??= setTimeout(this.#onMarkTimer, MARK_DELAY_MS).unref()
      return DONE
    }
    return this.#updateAwaited(client, packet, messageId)
  }

  async #updateAwaited (client: ClientRef, packet: StoredPacket, messageId: string): Promise<void> {
    const id = Number(messageId)
    if (packet.cmd === 'pubrel') {
      const known = this.#inflight.get(client.id)?.get(id)
      if (known !== undefined) Object.assign(packet, splitRef(known.ref))
      const blob = serialize(storedPubrel(packet))
      const ref = await this.#submit(client.id, 'r', messageId, known?.ref ?? '', blob)
      // Nothing stored under that id (a PUBREL replayed after its PUBCOMP): as aedes' in-memory store
      if (ref === null || ref === undefined) throw new StarlingError('STARLING_ERR_OUTGOING_GONE', [`with packet id ${messageId}`])
      const refText = ref.toString()
      if (known === undefined) Object.assign(packet, splitRef(refText))
      this.#remember(client.id, id, refText, packet)
      return
    }
    const ref = refOf(packet)
    this.#remember(client.id, id, ref, packet)
    const update = this.#submit(client.id, 'u', ref, messageId)
    if (packet.dup === true) {
      // A resend from the stored queue on session resumption (aedes sets DUP=1 only there): the
      // client may have acknowledged its original packet id since the queue was read. Redis runs
      // this after that PUBACK's clear (same connection, call order), so its answer says whether
      // the message is still stored; a gone one is skipped by the replay [MQTT-4.4.0-1]. One round
      // trip per resent message (those in flight when the connection dropped), never per first delivery.
      if (await update !== 1) {
        this.#forget(client.id, id)
        throw new StarlingError('STARLING_ERR_OUTGOING_GONE', [ref])
      }
      return
    }
    await update // QoS 2, exactly once: the id must be stored before the PUBLISH goes out
  }

  /** aedes' outgoingClearMessageId (PUBACK, PUBCOMP, failed PUBREC): the cleared message, if any. */
  clear (client: ClientRef, packet: { messageId?: number } | number | undefined): Promise<StoredPacket | undefined> {
    const messageId = typeof packet === 'object' && packet !== null ? packet.messageId : undefined
    if (messageId === undefined) return Promise.resolve(undefined)
    const known = this.#inflight.get(client.id)?.get(messageId)
    if (known === undefined) return this.#clearUnknown(client, messageId)
    const unwritten = known.unwritten
    known.unwritten = false // acknowledged: its held-back write is cancelled
    this.#forget(client.id, messageId)
    // What this connection sent under the id is what the client acknowledged: with the ref
    // known, Redis drops that entry and answers only whether it was still stored (`k`: no ids
    // were written for it, so none to delete).
    return new Promise((resolve, reject) => {
      const cleared = (reply: Reply): void => { resolve(reply === 1 ? known.packet : undefined) }
      if (unwritten) this.#push(client.id, 'k', known.ref, undefined, undefined, undefined, cleared, reject)
      else this.#push(client.id, 'c', String(messageId), known.ref, undefined, undefined, cleared, reject)
    })
  }

  /** A PUBACK / PUBCOMP for an id this pod did not send (or forgot): Redis looks the ref up. */
  async #clearUnknown (client: ClientRef, messageId: number): Promise<StoredPacket | undefined> {
    const reply = await this.#submit(client.id, 'C', String(messageId), '')
    if (!Array.isArray(reply)) return undefined
    const [ref, had, blob] = reply
    if (had !== 1 || ref === null || ref === undefined) return undefined
    const refText = ref.toString()
    if (Buffer.isBuffer(blob)) {
      const stored = isCompactStored(blob) ? fromOrderField(decodeStored(blob) as StoredPacket) : fromOrderField(deserialize(blob) as StoredPacket)
      stored.messageId = messageId
      return stored
    }
    return { cmd: 'publish', ...splitRef(refText), messageId }
  }

  /**
   * The refs of the session's queue, in order: the first read of a replay. One item of the
   * batched script (ids an older version kept in `:m` moved first, outgoing-script.ts), so the
   * sessions resuming in one event-loop turn read their queues in one call, and an empty queue
   * (the usual resume) costs no further command.
   */
  async refs (client: ClientRef): Promise<string[]> {
    this.flushMarks(client.id) // what this pod sent the session is read back with its ids (same call, before the read)
    const reply = await this.#submit(client.id, 'l')
    return Array.isArray(reply) ? reply.map((ref) => String(ref)) : []
  }

  /** The session's queue in order, each message with the packet id it last went out with (`refs`: read already). */
  async * stream (client: ClientRef, refs?: readonly string[]): AsyncGenerator<StoredPacket> {
    const packets = outgoingQueueKeys(client.id)[1]
    const listed = refs ?? await this.refs(client)
    for (let i = 0; i < listed.length; i += STREAM_CHUNK) {
      const chunk = listed.slice(i, i + STREAM_CHUNK)
      // the messages and the ids they went out with, from the one hash
      const fields = await this.#conn.hmgetBuffer(packets, ...chunk, ...chunk.map((ref) => `@${ref}`))
      for (let j = 0; j < chunk.length; j++) {
        const blob = fields[j]
        if (blob === null || blob === undefined) continue // cleared meanwhile
        let packet: StoredPacket
        try {
          packet = storedPacket(blob)
        } catch (err) {
          // one bad entry must not fail the whole session's replay: skipped (it stays stored)
          this.#onCorrupt?.(new StarlingError('STARLING_ERR_STORED_VALUE', ['offline queue entry of a session', (err as Error).message], { cause: err }))
          continue
        }
        const messageId = fields[chunk.length + j]?.toString()
        if (packet.cmd === 'pubrel') {
          if (packet.brokerId === undefined) Object.assign(packet, splitRef(chunk[j] as string))
        } else if (messageId !== null && messageId !== undefined) {
          packet.messageId = Number(messageId)
          this.#remember(client.id, packet.messageId, chunk[j] as string, packet)
        }
        yield packet
      }
    }
  }

  async length (client: ClientRef): Promise<number> {
    this.#flushPending()
    return await this.#conn.llen(outgoingQueueKeys(client.id)[0])
  }

  /** Drops the session's whole queue (its last subscription went, or the session ended). */
  async drop (clientId: string): Promise<void> {
    // Entries of #inflight for it may stay until evicted: Redis' own id map is consulted first.
    this.#flushPending()
    await this.#conn.del(...outgoingQueueKeys(clientId))
  }

  /**
   * Writes a session's held-back sent-with-id writes now: its connection ended here, or its queue
   * is about to be read, so a resume anywhere finds the packet ids its messages went out with
   * [MQTT-4.4.0-1]. Only the session's own in-flight entries are visited (a held write is always
   * one of them), so a disconnect storm costs each session its own window.
   */
  flushMarks (clientId: string): void {
    const session = this.#inflight.get(clientId)
    if (session === undefined) return
    for (const entry of session.values()) this.#writeMark(entry)
  }

  readonly #onMarkTimer = (): void => {
    const due = this.#dueMarks
    this.#dueMarks = this.#marks
    this.#marks = []
    for (const entry of due) this.#writeMark(entry)
    this.#markTimer = this.#dueMarks.length > 0 ? setTimeout(this.#onMarkTimer, MARK_DELAY_MS).unref() : undefined
  }

  #writeMark (entry: Inflight): void {
    if (!entry.unwritten) return
    entry.unwritten = false
    this.#push(entry.clientId, 'u', entry.ref, String(entry.messageId), undefined, undefined, noop, noop)
  }

  #remember (clientId: string, messageId: number, ref: string, packet: StoredPacket, unwritten = false): Inflight {
    let session = this.#inflight.get(clientId)
    if (session === undefined) {
      session = new Map()
      this.#inflight.set(clientId, session)
    } else {
      const replaced = session.get(messageId)
      if (replaced !== undefined) {
        // a held-back write goes out before whatever now takes its packet id (call order kept)
        this.#writeMark(replaced)
        session.delete(messageId)
        this.#inflightCount--
      }
    }
    if (this.#inflightCount >= MAX_INFLIGHT) {
      // the oldest entry of the longest-known session (a forgotten entry costs a lookup in Redis)
      const [oldestSession, entries] = this.#inflight.entries().next().value as [string, Map<number, Inflight>]
      const oldest = entries.keys().next().value
      if (oldest !== undefined) this.#forget(oldestSession, oldest)
      if (oldestSession === clientId && !this.#inflight.has(clientId)) this.#inflight.set(clientId, session)
    }
    const entry: Inflight = { clientId, messageId, ref, packet, unwritten }
    session.set(messageId, entry)
    this.#inflightCount++
    return entry
  }

  /** Forgets what was sent under the id (a held-back write still goes out: only its PUBACK cancels it). */
  #forget (clientId: string, messageId: number): void {
    const session = this.#inflight.get(clientId)
    const entry = session?.get(messageId)
    if (session === undefined || entry === undefined) return
    this.#writeMark(entry)
    session.delete(messageId)
    this.#inflightCount--
    if (session.size === 0) this.#inflight.delete(clientId)
  }

  #submit (clientId: string, op: Item['op'], a1?: string, a2?: string, a3?: string | Buffer): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      this.#push(clientId, op, a1, a2, a3, undefined, resolve, reject)
    })
  }

  #push (clientId: string, op: Item['op'], a1: string | undefined, a2: string | undefined, a3: string | Buffer | undefined, blob: Buffer | undefined, resolve: Item['resolve'], reject: Item['reject']): void {
    this.#pending.push({ clientId, op, a1, a2, a3, blob, resolve, reject })
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(this.#onTurn)
    }
  }

  readonly #onTurn = (): void => { this.#flush() }

  /**
   * A plain command (read, LLEN, DEL) goes after the items submitted before it: they are sent
   * first, and the connection keeps the order.
   */
  #flushPending (): void {
    if (this.#pending.length > 0) this.#flush()
  }

  /** Sends this turn's items: in call order, one script call per slot group (and per MAX_ITEMS). */
  #flush (): void {
    this.#scheduled = false
    const items = this.#pending
    if (items.length === 0) return
    this.#pending = []
    if (!this.#cluster) {
      for (let i = 0; i < items.length; i += MAX_ITEMS) this.#run(items.slice(i, i + MAX_ITEMS))
      return
    }
    const groups = new Map<string, Item[]>()
    for (const item of items) {
      const group = groups.get(item.clientId)
      if (group === undefined) groups.set(item.clientId, [item])
      else group.push(item)
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += MAX_ITEMS) this.#run(group.slice(i, i + MAX_ITEMS))
    }
  }

  #run (items: Item[]): void {
    // KEYS: each session's list key once; its `:p` and `:m` hashes are derived in the script
    // (same hash tag, so the same slot).
    const keys: string[] = []
    /** Per session: its KEYS index, and the `<op><index>` arguments made so far (one string each per call). */
    const keyIndex = new Map<string, OpTokens>()
    const blobs: Buffer[] = []
    const blobIndex = new Map<Buffer, number>()
    const ops: Array<string | Buffer> = []
    for (const item of items) {
      let tokens = keyIndex.get(item.clientId)
      if (tokens === undefined) {
        keys.push(outgoingQueueKeys(item.clientId)[0])
        tokens = { index: String(keys.length) }
        keyIndex.set(item.clientId, tokens)
      }
      ops.push(tokens[item.op] ??= item.op + tokens.index)
      if (item.blob !== undefined) {
        let blob = blobIndex.get(item.blob)
        if (blob === undefined) {
          blobs.push(item.blob)
          blob = blobs.length
          blobIndex.set(item.blob, blob)
        }
        ops.push(item.a1 as string, String(blob))
      } else {
        if (item.a1 !== undefined) ops.push(item.a1)
        if (item.a2 !== undefined) ops.push(item.a2)
        if (item.a3 !== undefined) ops.push(item.a3)
      }
    }
    this.#ops.starlingOutgoingOpsBuffer(keys.length, ...keys, String(blobs.length), ...blobs, ...ops).then((replies) => {
      for (let i = 0; i < items.length; i++) items[i]?.resolve(replies[i] ?? null)
    }, (err: Error) => {
      for (const item of items) item.reject(err)
    })
  }
}
