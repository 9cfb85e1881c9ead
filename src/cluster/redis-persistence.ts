import { StarlingError } from '../errors.js'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import AsyncRedisPersistence from 'aedes-persistence-redis/asyncPersistence.js'
import { incomingPacketKey, pluginClientKey, sessionRecordKey, sessionRecordsKey, willClaimKey, willOwnerKey } from './keys.js'
import { OutgoingStore, type StoredPacket } from './outgoing-store.js'
import { RetainedIndex } from './retained-index.js'
import type { Logger } from '../logger.js'
import { fromOrderField, withOrderField } from '../broker/user-properties.js'
import type { FaultMetrics } from '../metrics/faults.js'
import type { RedisClient } from './redis.js'

/** Deletes the owner entry only while it still names the pod whose will is being removed. */
const HDEL_IF_EQUAL = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"
const pluginRequire = createRequire(createRequire(import.meta.url).resolve('aedes-persistence-redis'))
// The plugin's own Packet (the fields a stored PUBLISH keeps: no wire `length`), as the plugin stores them.
const Packet = pluginRequire('aedes-persistence').Packet as new (packet: object) => Record<string, unknown>
// The plugin's own msgpack-lite (as retained-index.ts), so stored packets are encoded as the plugin's.
const msgpack = pluginRequire('msgpack-lite') as {
  encode: (value: unknown) => Buffer
  decode: (buffer: Buffer) => unknown
}

/**
 * A session's end in one command where its keys may share a node (standalone, Sentinel): the
 * record and its listing go, and the stored subscriptions' topics come back for the plugin's
 * removal (routing, offline queue); with ARGV[2] = '1' also the pod that holds the client id's
 * will (delWill's lookup, made by the same CONNECT: see #willOwner). KEYS: subscriptions HASH,
 * record, records SET, will owners HASH. ARGV: client id, '1' or ''. Reply: {owner or '', topics}.
 */
const END_SESSION = `redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
local owner = ''
if ARGV[2] == '1' then owner = redis.call('HGET', KEYS[4], ARGV[1]) or '' end
return {owner, redis.call('HKEYS', KEYS[1])}`

type EndSessionCommand = (subs: string, record: string, records: string, owners: string, clientId: string, withOwner: string) => Promise<[string, string[]]>

/** A will owner lookup waiting for the end of the current synchronous run (see #willOwner). */
interface OwnerLookup { resolve: (owner: string | null) => void, reject: (err: unknown) => void }

/** A crashed claimant's claim lapses after this long. */
const CLAIM_TTL_MS = 10000

interface WillRef { id: string, brokerId?: string }

/**
 * aedes-persistence-redis 11 as aedes 2.0.0-beta.1 needs it. The plugin returns async
 * generators where aedes' in-memory persistence returns Readable streams, and aedes pipes some
 * of them (`createRetainedStreamCombi(...).pipe(...)` in its SUBSCRIBE handler), so the
 * stream-returning calls are wrapped in `Readable.from`.
 */
export class StarlingRedisPersistence extends AsyncRedisPersistence {
  readonly #conn: RedisClient
  /** Offline / in-flight queues of persistent sessions (Lua, batched per event-loop turn). */
  readonly #outgoing: OutgoingStore
  readonly #retained: RetainedIndex
  /** END_SESSION, where the session's keys may be in one script (not on Redis Cluster: three slots). */
  readonly #endSession: EndSessionCommand | undefined
  /** Will owner lookups not sent yet, by client id: a clean start's session end takes them along. */
  readonly #ownerLookups = new Map<string, OwnerLookup>()
  #brokerId = ''

  constructor (options: { conn: RedisClient, cluster?: boolean, logger?: Logger, faults?: FaultMetrics, retainedScan?: { max: number, onCapped: () => void } }) {
    super(options)
    this.#conn = options.conn
    if (options.cluster !== true) {
      const conn = options.conn as unknown as { starlingEndSession?: EndSessionCommand, defineCommand (name: string, def: { numberOfKeys: number, lua: string }): void }
      if (typeof conn.starlingEndSession !== 'function') conn.defineCommand('starlingEndSession', { numberOfKeys: 4, lua: END_SESSION })
      this.#endSession = (conn.starlingEndSession as EndSessionCommand).bind(conn)
    }
    const faults = options.faults
    this.#outgoing = new OutgoingStore({ conn: options.conn, cluster: options.cluster === true, onCorrupt: faults && ((err) => faults.record('queue_entry_corrupt', err)) })
    this.#retained = new RetainedIndex({
      conn: options.conn,
      cluster: options.cluster === true,
      logger: options.logger,
      onCorrupt: faults && ((err) => faults.record('retained_value_corrupt', err)),
      maxScan: options.retainedScan?.max,
      onScanCapped: options.retainedScan?.onCapped
    })
  }

  /** Retained messages stored, cluster-wide (limits.maxRetainedMessages, src/broker/retained-quota.ts). */
  async retainedCount (): Promise<number> {
    return await this.#retained.count()
  }

  /** Payload bytes of the retained messages, cluster-wide (limits.maxRetainedBytes). */
  async retainedBytes (): Promise<number> {
    return await this.#retained.bytes()
  }

  /** Sessions that outlive their connection, cluster-wide (limits.maxPersistentSessions). */
  async sessionCount (): Promise<number> {
    return await this.#conn.scard(sessionRecordsKey())
  }

  override async setup (broker: unknown): Promise<void> {
    this.#brokerId = (broker as { id: string }).id
    // A connection that ended here leaves its held-back sent-with-id writes to Redis at once, so
    // a resume on any pod resends with the original packet ids [MQTT-4.4.0-1] (outgoing-store.ts).
    // The persistence contract's broker is an id and pub/sub only: aedes is also an emitter.
    const events = broker as { on?: (event: 'clientDisconnect', listener: (client: { id: string }) => void) => void }
    events.on?.('clientDisconnect', (client) => { this.#outgoing.flushMarks(client.id) })
    await super.setup(broker)
    this.#retained.start() // background: builds the retained index if an older version left none
  }

  /**
   * The session's outgoing queue length in one command, for the queue cap
   * (src/broker/queue-limit.ts); otherwise it would read the whole queue, a GET per entry.
   * One LLEN of the session's queue list (src/cluster/outgoing-store.ts).
   */
  async outgoingQueueLength (client: { id: string }): Promise<number> {
    return await this.#outgoing.length(client)
  }

  // The offline queue is Starling's own (src/cluster/outgoing-store.ts), not the plugin's.
  // The per-message calls hand the store's promise on (no async frame, no second promise each).
  override outgoingEnqueue (sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    return this.#outgoing.enqueue([sub], packet)
  }

  override outgoingEnqueueCombi (subs: ReadonlyArray<{ clientId: string }> | undefined, packet: StoredPacket): Promise<void> {
    if (subs === undefined || subs.length === 0) return Promise.resolve()
    return this.#outgoing.enqueue(subs, packet)
  }

  override outgoingUpdate (client: { id: string }, packet: StoredPacket): Promise<void> {
    return this.#outgoing.update(client, packet)
  }

  override outgoingClearMessageId (client: { id: string, clean?: boolean }, packet: { messageId?: number } | number | undefined): Promise<StoredPacket | undefined> {
    // aedes clears on every PUBACK/PUBCOMP, but stores nothing for a clean session (client.js
    // deliverQoS): asking Redis would cost a script call per QoS 1 delivery for nothing.
    if (client.clean === true) return Promise.resolve(undefined)
    return this.#outgoing.clear(client, packet)
  }

  /** A session that outlives its connection exists, subscriptions or not (aedes patch: connect.js recordSession) [MQTT-3.2.2-2]. */
  async recordSession (client: { id: string }): Promise<void> {
    await Promise.all([this.#conn.set(sessionRecordKey(client.id), '1'), this.#conn.sadd(sessionRecordsKey(), client.id)])
  }

  async hasSession (client: { id: string }): Promise<boolean> {
    return await this.#conn.exists(sessionRecordKey(client.id)) === 1
  }

  /**
   * What a persistent CONNECT needs first (the session quota, then aedes' fetchSubs): the stored
   * subscriptions and whether the session exists. A session with a subscription exists, so its
   * record is asked for (EXISTS, a second round trip) only when it has none: the usual resume
   * costs one HGETALL instead of an EXISTS, then the HGETALL [MQTT-3.2.2-2].
   */
  async sessionState (client: { id: string }): Promise<{ known: boolean, subs: unknown[] }> {
    const subs = await this.subscriptionsByClient(client)
    return { subs, known: subs.length > 0 || await this.hasSession(client) }
  }

  /** The session ends (clean start, Session Expiry reached, expiry 0 at close): its record goes too. */
  override async cleanSubscriptions (client: { id: string }): Promise<void> {
    if (this.#endSession === undefined) {
      await Promise.all([super.cleanSubscriptions(client), this.#conn.del(sessionRecordKey(client.id)), this.#conn.srem(sessionRecordsKey(), client.id)])
      return
    }
    // One command instead of HGETALL, DEL and SREM: every clean-start CONNECT pays it. The
    // subscriptions' field names are their topics (the plugin's addSubscriptions); their removal
    // is the plugin's, as in its cleanSubscriptions [MQTT-3.1.2-6].
    const lookup = this.#ownerLookups.get(client.id)
    if (lookup !== undefined) this.#ownerLookups.delete(client.id)
    let reply: [string, string[]]
    try {
      reply = await this.#endSession(pluginClientKey(client.id), sessionRecordKey(client.id), sessionRecordsKey(), willOwnerKey(), client.id, lookup !== undefined ? '1' : '')
    } catch (err) {
      lookup?.reject(err)
      throw err
    }
    const [owner, topics] = reply
    lookup?.resolve(owner === '' ? null : owner)
    if (topics.length > 0) await this.removeSubscriptions(client, topics)
  }

  /**
   * The pod holding the client id's will (putWill). aedes asks at every CONNECT (fetchSubs
   * deletes the previous will) and, for a clean start, ends the session right after in the same
   * synchronous run: the lookup waits for that run's end (a microtask) so the session end can
   * answer it in its one script; otherwise it is an HGET of its own, in the same turn as before.
   */
  #willOwner (clientId: string): Promise<string | null> {
    if (this.#endSession === undefined || this.#ownerLookups.has(clientId)) return this.#conn.hget(willOwnerKey(), clientId)
    return new Promise((resolve, reject) => {
      const lookup: OwnerLookup = { resolve, reject }
      this.#ownerLookups.set(clientId, lookup)
      queueMicrotask(() => {
        if (this.#ownerLookups.get(clientId) !== lookup) return // taken by cleanSubscriptions
        this.#ownerLookups.delete(clientId)
        this.#conn.hget(willOwnerKey(), clientId).then(resolve, reject)
      })
    })
  }

  /** As the plugin: a session left with no subscription loses its offline queue too. */
  override async removeSubscriptions (client: { id: string }, subs: string[]): Promise<void> {
    await super.removeSubscriptions(client, subs)
    if (await this.#conn.exists(pluginClientKey(client.id)) === 0) await this.#outgoing.drop(client.id)
  }

  // QoS 2 packets received and awaiting PUBREL: under the client's hash tag (keys.ts
  // incomingPacketKey), so on Redis Cluster a client's PUBRELs are answered in order.
  async incomingStorePacket (client: { id: string }, packet: { messageId?: number }): Promise<void> {
    // as the plugin: its Packet fields plus the packet id [MQTT-4.3.3-2]
    const stored = new Packet(packet)
    stored.messageId = packet.messageId
    await this.#conn.set(incomingPacketKey(client.id, packet.messageId), msgpack.encode(withOrderField(stored)))
  }

  async incomingGetPacket (client: { id: string }, packet: { messageId?: number }): Promise<unknown> {
    const stored = await this.#conn.getBuffer(incomingPacketKey(client.id, packet.messageId))
    if (stored === null) throw new StarlingError('STARLING_ERR_INCOMING_GONE', [packet.messageId]) // as the plugin: aedes answers PUBCOMP anyway
    return fromOrderField(msgpack.decode(stored) as { topic: string })
  }

  async incomingDelPacket (client: { id: string }, packet: { messageId?: number }): Promise<void> {
    await this.#conn.del(incomingPacketKey(client.id, packet.messageId))
  }

  /** Also records which pod holds the client's current will (see delWill). */
  override async putWill (client: { id: string }, packet: Record<string, unknown>): Promise<void> {
    // with its User Properties' order, which msgpack drops (a symbol) [MQTT-3.3.2-18]
    await super.putWill(client, withOrderField(packet))
    await this.#conn.hset(willOwnerKey(), client.id, this.#brokerId)
  }

  /**
   * Wills are stored per (pod, client). Two gaps of the plugin are closed here:
   * - aedes deletes a reconnecting client's old will with `delWill(client)` (no brokerId), which
   *   the plugin looks up under `will:undefined:<id>`: the will stored by another pod (say one
   *   that died) survived and was later published although the client was back [MQTT-3.1.2-8]
   *   [MQTT-3.1.3-9]. Without a brokerId the owner recorded by putWill is used.
   * - the plugin's delWill is GET then DEL, so two pods sweeping a dead pod's wills could both
   *   get (and publish) the same will. A claim key (SET NX) makes one pod the taker; a later
   *   taker finds the will gone. The result is the will only for the pod that removed it.
   */
  override async delWill (client: WillRef): Promise<Record<string, unknown> | null> {
    const brokerId = client.brokerId ?? await this.#willOwner(client.id)
    if (brokerId === null || brokerId === undefined) return null
    const claim = willClaimKey(brokerId, client.id)
    if (await this.#conn.set(claim, this.#brokerId, 'PX', CLAIM_TTL_MS, 'NX') !== 'OK') return null
    try {
      const will = await super.delWill({ id: client.id, brokerId })
      await this.#conn.eval(HDEL_IF_EQUAL, 1, willOwnerKey(), client.id, brokerId)
      return will === null || will === undefined ? null : fromOrderField(will)
    } finally {
      await this.#conn.del(claim)
    }
  }
  /** Retained messages are kept with a topic index for wildcard lookups (src/cluster/retained-index.ts). */
  async storeRetained (packet: { topic: string, payload: Buffer }): Promise<void> {
    await this.#retained.store(packet)
  }

  /**
   * Through the retained index once it is complete; the plugin's full scan until then (on a copy:
   * the plugin sorts the array in place, and aedes pairs its entries with the granted QoS).
   */
  override createRetainedStreamCombi (patterns: readonly string[]): Readable {
    return toReadable(this.#retained.ready ? this.#retained.lookup(patterns) : super.createRetainedStreamCombi([...patterns]))
  }

  /**
   * A clean-start connection whose session ends with it (MQTT 3.1.1 clean session, or v5 Clean
   * Start with Session Expiry 0) never gets a stored message: the prior session is discarded
   * [MQTT-3.1.2-4] [MQTT-3.1.2-6] and aedes drops, not delivers, every entry it would read
   * (connect.js emptyQueueFilter; outgoingClearMessageId above is a no-op for it). Reading the
   * queue at CONNECT and again at the session's wipe cost a round trip each for nothing.
   */
  override outgoingStream (client: { id: string, clean?: boolean, _cleanStart?: boolean }): Readable {
    if (this.outgoingKnownEmpty(client)) return Readable.from([])
    return toReadable(this.#outgoing.stream(client))
  }

  /**
   * The queue a resuming session replays at CONNECT, or null when there is none (our aedes patch,
   * connect.js emptyQueue: no stream pipeline then). Its first read is one item of the batched
   * queue script (OutgoingStore.refs): the usual resume, an empty queue, costs no other command.
   */
  async outgoingReplayStream (client: { id: string, clean?: boolean, _cleanStart?: boolean }): Promise<Readable | null> {
    if (this.outgoingKnownEmpty(client)) return null
    const refs = await this.#outgoing.refs(client)
    return refs.length === 0 ? null : toReadable(this.#outgoing.stream(client, refs))
  }

  /** Whether outgoingStream would be empty for this connection (aedes' emptyQueue then skips reading it). */
  outgoingKnownEmpty (client: { clean?: boolean, _cleanStart?: boolean }): boolean {
    return client.clean === true && client._cleanStart === true
  }

  override streamWill (brokers?: Record<string, number>): Readable {
    return Readable.from(restoreWillOrder(super.streamWill(brokers) as AsyncIterable<Record<string, unknown>>))
  }

  override getClientList (topic: string): Readable {
    return toReadable(super.getClientList(topic))
  }
}

/** Stored wills with their User Properties' order again (see putWill). */
async function * restoreWillOrder (wills: AsyncIterable<Record<string, unknown>>): AsyncGenerator<Record<string, unknown>> {
  for await (const will of wills) yield fromOrderField(will)
}

function toReadable (source: AsyncIterable<unknown> | Iterable<unknown>): Readable {
  return source instanceof Readable ? source : Readable.from(source)
}
