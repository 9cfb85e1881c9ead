import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { Cluster } from 'ioredis'
import mqemitter from 'mqemitter'
import { BATCH, decodeMessage, encodeBatch, encodeMessage, frameTopic, invalidFrameTopic, isFrameFrom, MAX_BATCH_FRAMES, ORIGIN_BYTES, splitBatch, type EmittedPacket } from './emitter-codec.js'
import { BusInterest } from './emitter-interest.js'
import { filterSlot, topicSlot, type RouteLayout } from './emitter-route.js'
import { isSharded, onChannelMessage, publishMessage, ssubscribeEach, subscribeChannels, unsubscribeChannels } from './pubsub.js'
import { closeRedisClient, type RedisClient } from './redis.js'
import { keySlot } from './slots.js'
import { StarlingError } from '../errors.js'

/**
 * Starling's cluster emitter: the mqemitter interface aedes uses (`on`, `removeListener`, `emit`,
 * `close`, `current`), carried between pods over a FIXED set of Redis pub/sub channels instead
 * of one channel or PSUBSCRIBE pattern per topic filter (mqemitter-redis). Redis matches every
 * PUBLISH against every pattern, so its cost grew with the number of wildcard filters; here a
 * PUBLISH costs the same whatever the filters: one channel, at most one subscriber per pod.
 *
 * - emit: the packet goes to the local listeners at once (as on the embedded emitter), and to
 *   Redis (one PUBLISH on the channel of its topic, emitter-route.ts) only when another pod
 *   listens on that channel (emitter-interest.ts: the pods announce their channels on a control
 *   channel; a pod with no remote interest makes no Redis call at all). The callback runs when
 *   the local listeners are done and, if it was sent, Redis has answered. Frames carry the
 *   sending emitter's id: the copy a pod gets back from Redis (when it listens on the channel
 *   too) is dropped. Per-publisher order holds on both paths: locally by the synchronous
 *   dispatch, remotely by one publish connection and one subscribe connection [MQTT-4.6.0-5].
 *   A subscriber's SUBACK waits until every peer has applied its new interest, so no message
 *   published after the SUBACK misses Redis. Frames of one channel emitted in one event-loop
 *   turn go out as one batch (one PUBLISH; a frame on another channel sends the batch first).
 * - on: the listener goes into a local mqemitter (the in-process one aedes uses by default) and
 *   the channel(s) the filter needs get a reference; a channel's first reference SUBSCRIBEs it,
 *   and the callback runs once every channel the filter needs is subscribed in Redis and, for a
 *   channel new to this pod, its interest is acked by the peers (emitter-interest.ts).
 * - removeListener: drops the listener and the references; a channel left without one stays
 *   subscribed (and announced) for `lingerMs` (`cluster.channelLingerMs`), then is
 *   UNSUBSCRIBEd: a session that reconnects meanwhile (its subscriptions restored) needs no
 *   SUBSCRIBE, no interest announcement and no wait for the peers' acks, and the peers no
 *   interest update each way.
 * - a message from Redis (another pod's) is dispatched to the local listeners whose filter
 *   matches its topic (all in one synchronous loop, as aedes' dedupe expects); a pod with none
 *   skips decoding it.
 *
 * Each message is published on exactly one channel and a pod subscribes a channel at most once,
 * so a pod gets each message at most once: no message ids or LRU dedupe are needed (aedes keeps
 * its per-client (brokerId, brokerCounter) dedupe for overlapping subscriptions).
 *
 * On Redis Cluster the channels are sharded (SPUBLISH/SSUBSCRIBE, pubsub.ts): each lives on the
 * master that owns its slot, so the bus's load spreads over the shards. Messages of one topic
 * still share one channel, hence one shard and one connection each way: per-topic order holds
 * [MQTT-4.6.0-5]; messages of different topics on different shards may overtake each other.
 * When a channel's slot moves (resharding, failover) Redis drops its subscribers there and they
 * subscribe again on the new owner within about a second (redis.ts); an SPUBLISH in that window
 * reaches no one. So a message on a channel that had subscribers and now reports none is held
 * and sent again (later messages of the channel queue behind it, in order) until someone
 * receives it or HOLD_MS passes (then the channel really has no subscriber left).
 */

type Listener = (packet: EmittedPacket, done: () => void) => void

interface LocalEmitter {
  current: number
  on (topic: string, listener: Listener, callback?: () => void): unknown
  emit (packet: EmittedPacket, callback?: (error?: Error) => void): void
  removeListener (topic: string, listener: Listener, callback?: () => void): void
  close (callback: () => void): void
  /** mqemitter's Qlobber; used only to skip decoding messages no local listener wants. */
  readonly _matcher?: { match (topic: string): readonly unknown[] }
}

export interface RedisEmitterOptions {
  /** Connection for PUBLISH (auto-pipelined). */
  readonly pubConn: RedisClient
  /** Connection for SUBSCRIBE (Redis reserves it for pub/sub). */
  readonly subConn: RedisClient
  /** Channel name of each channel index (keys.ts). */
  readonly channelName: (slot: number) => string
  readonly layout: RouteLayout
  /** A frame from Redis was dropped: not a Starling frame, undecodable, or an invalid topic (counted and logged by the caller). */
  readonly onInvalidFrame?: (err: Error) => void
  /**
   * Messages from the bus being delivered to local subscribers at once (`limits.maxPendingDeliveries`);
   * beyond it QoS 0 messages from the bus are dropped ('dropped' on `state`). Default: unbounded.
   */
  readonly maxPending?: number
  /** SPUBLISH/SSUBSCRIBE; defaults to whether the connections are Redis Cluster clients. */
  readonly sharded?: boolean
  /**
   * Channel on which the pods announce the bus channels they listen on (emitter-interest.ts);
   * with it a message goes to Redis only when another pod listens on its channel. Without it
   * every message goes to Redis (still delivered locally first).
   */
  readonly controlChannel?: string
  /** How long a channel without a local filter stays subscribed, ms (default LINGER_MS; 0: unsubscribed at once). */
  readonly lingerMs?: number
}

/**
 * Sharded mode: how often the subscriber re-reads the slot map, as a safety net (ioredis' own
 * refresh is every 5 s, and its timer can outlive quit() when a refresh is in flight: this one is
 * ours, unref'd, stopped on close). The moves that matter are signalled and re-read at once: a
 * slot handed over (the SUNSUBSCRIBE below), a master gone (ioredis on its subscriber's '-node').
 * Each refresh opens a short-lived connection (CLIENT SETNAME + CLUSTER SLOTS) on some master, so
 * every second per pod was a measurable part of an idle cluster's CPU (docs/scaling.md).
 */
const SLOTS_REFRESH_MS = 5000
/** How long a message that reached no subscriber of a channel that had some is retried. */
const HOLD_MS = 3000
const RETRY_FIRST_MS = 25
const RETRY_MAX_MS = 400
/**
 * Sharded mode: an SSUBSCRIBE that failed (its master dead before the failover, or MOVED because
 * the slot moved since the map was read) is tried again after these waits while the SUBACK or
 * CONNACK waits for it, then every SUBSCRIBE_RETRY_LATER_MS in the background until it works or
 * no local subscriber needs the channel. ioredis subscribes its channels again only on a change
 * of the slot map, and not a channel whose SSUBSCRIBE found no subscriber connection for its slot.
 */
const SUBSCRIBE_RETRY_MS = [100, 300, 1000]
const SUBSCRIBE_RETRY_LATER_MS = 2000

/**
 * Default of how long a channel stays subscribed after its last local filter went (checked every
 * half of it): a persistent session that leaves and comes back within it costs the bus nothing.
 * Meanwhile the other pods keep sending the channel's messages to Redis, which this pod drops
 * undecoded.
 */
export const LINGER_MS = 10_000

/** A batch is sent when it reaches this size, even before the end of the turn. */
const MAX_BATCH_BYTES = 256 * 1024

interface Batch { readonly slot: number, readonly frames: Buffer[], readonly callbacks: Array<(error?: Error) => void>, bytes: number }

interface HeldMessage { readonly seq: number, readonly frame: Buffer, readonly callback: (error?: Error) => void }

export class RedisEmitter {
  /** Errors of background work (SUBSCRIBE, UNSUBSCRIBE, undecodable messages), as mqemitter-redis' `state`. */
  readonly state = new EventEmitter()
  closed = false
  readonly #local: LocalEmitter
  readonly #pub: RedisClient
  readonly #sub: RedisClient
  readonly #layout: RouteLayout
  readonly #names: readonly string[]
  /** Every channel index, 0 .. channels - 1 (what a filter with a wildcard in its route levels needs). */
  readonly #allSlots: readonly number[]
  /** Local registrations per filter (`on` minus `removeListener`). */
  readonly #filters = new Map<string, number>()
  /** Filters (distinct) that need each channel. */
  readonly #refs: Int32Array
  /** SUBSCRIBEs Redis has not answered yet, per channel. */
  readonly #pending = new Map<number, Promise<void>>()
  readonly #sharded: boolean
  readonly #offMessage: () => void
  readonly #onReady: () => void
  readonly #onInvalidFrame: (err: Error) => void
  readonly #maxPending: number
  readonly #onNodeError: (err: Error) => void
  readonly #onNodeLost: (redis: unknown, nodeKey?: string) => void
  #slotsTimer: NodeJS.Timeout | undefined
  /** Sharded mode: whether the channel's last message reached a subscriber. */
  readonly #heard: Uint8Array
  /** Sharded mode: messages emitted per channel (their order), and those held for a retry. */
  readonly #sent: Float64Array
  readonly #held = new Map<number, HeldMessage[]>()
  /** Sharded mode: channels whose SSUBSCRIBE failed, retried in the background (and on 'ready'). */
  readonly #failed = new Set<number>()
  /** Channels without a local filter, still subscribed: when their last filter went (ms). */
  readonly #lingering = new Map<number, number>()
  readonly #lingerMs: number
  #lingerTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #controlRetry: NodeJS.Timeout | undefined
  /** This emitter's id in its frames: its own messages coming back from Redis are dropped. */
  readonly #origin = randomBytes(ORIGIN_BYTES)
  readonly #interest: BusInterest | undefined
  readonly #control: Buffer | undefined
  /** Channels whose interest the peers have acked (or not in time) since they were last subscribed. */
  readonly #announced: Uint8Array
  /** Frames emitted on one channel in this event-loop turn, sent as one PUBLISH at its end. */
  #batch: Batch | undefined
  #flushScheduled = false
  readonly #flushNow = (): void => {
    this.#flushScheduled = false
    this.#flush()
  }

  constructor (options: RedisEmitterOptions) {
    const { channels, levels } = options.layout
    if (!Number.isInteger(channels) || channels < 1 || !Number.isInteger(levels) || levels < 1) {
      throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [`cluster emitter layout needs integer channels and levels ≥ 1 (got ${channels}, ${levels})`])
    }
    // concurrency 0: no cap on messages in delivery (as Starling's embedded emitter, create.ts);
    // matchEmptyLevels as aedes' default emitter [MQTT-4.7.1-3]
    this.#local = mqemitter({ concurrency: 0, matchEmptyLevels: true }) as unknown as LocalEmitter
    this.#pub = options.pubConn
    this.#sub = options.subConn
    this.#layout = options.layout
    this.#maxPending = options.maxPending ?? Infinity
    this.#lingerMs = options.lingerMs ?? LINGER_MS
    this.#names = Array.from({ length: channels }, (_, slot) => options.channelName(slot))
    this.#allSlots = this.#names.map((_, slot) => slot)
    this.#refs = new Int32Array(channels)
    this.#onInvalidFrame = options.onInvalidFrame ?? ((err) => this.#error(err))
    this.#heard = new Uint8Array(channels)
    this.#sent = new Float64Array(channels)
    this.#sharded = options.sharded ?? isSharded(options.subConn)
    this.#announced = new Uint8Array(channels)
    const control = options.controlChannel
    if (control !== undefined) {
      this.#control = Buffer.from(control)
      this.#interest = new BusInterest({
        pubConn: this.#pub,
        sharded: this.#sharded,
        channel: control,
        channels,
        self: this.#origin.toString('hex'),
        listening: (slot) => this.#subscribed(slot),
        onError: (err) => this.#error(err)
      })
      this.#joinControl()
    }
    const ctl = this.#control
    this.#offMessage = onChannelMessage(this.#sub, this.#sharded, ctl === undefined
      ? (_channel, message) => this.#receive(message)
      : (channel, message) => {
          if (channel.length === ctl.length && channel.equals(ctl)) this.#interest?.receive(message)
          else this.#receive(message)
        })
    // ioredis re-subscribes what it knew after a reconnect; this also retries SUBSCRIBEs that
    // failed while Redis was away (SUBSCRIBE is idempotent). Its sharded subscribers re-subscribe
    // themselves on every topology change: only the failed SSUBSCRIBEs are sent again.
    this.#onReady = () => {
      if (this.closed) return
      const wanted = this.#sharded
        ? [...this.#failed].filter((slot) => this.#subscribed(slot))
        : this.#allSlots.filter((slot) => this.#subscribed(slot))
      this.#failed.clear()
      if (wanted.length > 0) this.#subscribe(wanted)
      // control messages may have been missed while away: hello again, trust nothing until answered
      this.#joinControl()
    }
    this.#sub.on('ready', this.#onReady)
    // A slot moved (resharding, failover): its old master drops the channel's subscribers with an
    // SUNSUBSCRIBE nobody asked for, which ioredis reports as a node error naming the channel
    // (our patch to it: patches/ioredis+5.9.3.patch, README "Our patches"). Re-read the slot map
    // at once (and twice more, as the other masters learn the move), instead of at the next
    // periodic refresh: ioredis re-subscribes every channel on its new owner when the map changes.
    // What was published on the channel between the hand-over and the re-subscription did not
    // reach this pod: 'resubscribing' names the channels (all subscribed ones if the reply is not
    // readable), so persistent sessions listening there can replay their queues (resync.ts).
    this.#onNodeError = (err) => {
      if (this.closed || !/sunsubscribe/i.test(err.message) || !(this.#sub instanceof Cluster)) return
      const cluster = this.#sub
      const named = this.#names.indexOf(/sunsubscribe,([^,\s]+)/i.exec(err.message)?.[1] ?? '')
      this.state.emit('resubscribing', named >= 0 ? [named] : this.#allSlots.filter((slot) => this.#filtered(slot)))
      for (const ms of [0, 100, 400]) setTimeout(() => { if (!this.closed && cluster.status === 'ready') cluster.refreshSlotsCache() }, ms).unref()
      // the control channel's subscription may be the one that moved: send everything until the
      // peers are heard again once ioredis has re-subscribed
      if (this.#interest !== undefined) {
        this.#interest.leave()
        setTimeout(() => this.#joinControl(), 1000).unref()
      }
    }
    if (this.#sharded) this.#sub.on('nodeError', this.#onNodeError)
    // A master went away (failover): its sharded subscriber connection ended without any
    // SUNSUBSCRIBE, and its channels have no subscription until ioredis re-subscribes them on the
    // promoted replica. Reported like a moved slot, so persistent sessions listening there replay
    // from their queues what was published meanwhile (resync.ts). The slot map still names the
    // lost master here (ioredis re-reads it after this event).
    this.#onNodeLost = (_redis, nodeKey) => {
      if (this.closed || typeof nodeKey !== 'string' || !(this.#sub instanceof Cluster)) return
      const owners = this.#sub.slots
      const lost = this.#allSlots.filter((slot) => this.#filtered(slot) && owners[keySlot(this.#names[slot]!)]?.[0] === nodeKey)
      if (lost.length > 0) this.state.emit('resubscribing', lost)
    }
    if (this.#sharded) this.#sub.on('-node', this.#onNodeLost)
    if (this.#sharded && this.#sub instanceof Cluster) {
      const cluster = this.#sub
      this.#slotsTimer = setInterval(() => { if (cluster.status === 'ready') cluster.refreshSlotsCache() }, SLOTS_REFRESH_MS).unref()
    }
  }

  /** Messages being dispatched to local listeners. */
  get current (): number {
    return this.#local.current
  }

  on (topic: string, listener: Listener, done?: () => void): this {
    this.#local.on(topic, listener)
    const slot = filterSlot(topic, this.#layout)
    const slots = slot === 'all' ? this.#allSlots : [slot]
    const registered = this.#filters.get(topic) ?? 0
    this.#filters.set(topic, registered + 1)
    if (registered === 0) {
      const fresh: number[] = []
      for (const s of slots) {
        // a lingering channel is subscribed and announced still
        if ((this.#refs[s] = (this.#refs[s] ?? 0) + 1) === 1 && !this.#lingering.delete(s)) fresh.push(s)
      }
      if (fresh.length > 0) this.#subscribe(fresh)
    }
    // also wait for a SUBSCRIBE another filter started for the same channel
    const waits: Array<Promise<void>> = []
    for (const s of slots) {
      const pending = this.#pending.get(s)
      if (pending !== undefined) waits.push(pending)
    }
    // a channel this pod did not listen on: the peers must know before the SUBACK (emitter-interest.ts)
    const interest = this.#interest
    const unannounced = interest !== undefined && slots.some((s) => this.#announced[s] === 0)
    if (done !== undefined || unannounced) {
      const subscribed = waits.length === 0 ? Promise.resolve() : Promise.all(waits)
      const ready = !unannounced
        ? subscribed
        : subscribed.then(async () => await interest.announce()).then(() => {
          for (const s of slots) if (this.#filtered(s)) this.#announced[s] = 1
        })
      if (done !== undefined) {
        if (waits.length === 0 && !unannounced) setImmediate(done)
        else void ready.then(() => done())
      }
    }
    return this
  }

  /**
   * Whether a message on `topic` may reach a listener: one here whose filter matches, or another
   * pod listening on its channel (or the peers not known yet). A remote subscriber's SUBACK waits
   * until every pod has applied its interest (emitter-interest.ts), so false means no subscription
   * in force anywhere matches.
   */
  listened (topic: string): boolean {
    if (this.#interest === undefined || this.#interest.wanted(topicSlot(topic, this.#layout))) return true
    const matcher = this.#local._matcher
    return matcher === undefined || matcher.match(topic).length > 0
  }

  removeListener (topic: string, listener: Listener, done?: () => void): this {
    const registered = this.#filters.get(topic) ?? 0
    if (registered > 1) this.#filters.set(topic, registered - 1)
    else if (registered === 1) {
      this.#filters.delete(topic)
      const slot = filterSlot(topic, this.#layout)
      const slots = slot === 'all' ? this.#allSlots : [slot]
      const now = Date.now()
      for (const s of slots) {
        if ((this.#refs[s] = (this.#refs[s] ?? 0) - 1) === 0) this.#lingering.set(s, now)
      }
      if (this.#lingerMs === 0) this.#unsubscribeIdle()
      else if (this.#lingering.size > 0 && this.#lingerTimer === undefined && !this.closed) {
        this.#lingerTimer = setInterval(() => this.#unsubscribeIdle(), Math.max(10, this.#lingerMs / 2)).unref()
      }
    }
    this.#local.removeListener(topic, listener, done)
    return this
  }

  emit (packet: EmittedPacket, done?: (error?: Error) => void): void {
    const callback = done ?? ((err?: Error) => { if (err !== undefined) this.#error(err) })
    if (this.closed) {
      callback(new StarlingError('STARLING_ERR_CLOSED', ['the cluster emitter']))
      return
    }
    const slot = topicSlot(packet.topic, this.#layout)
    // Local listeners get the message here, at once, as on the embedded emitter; Redis carries it
    // only to the other pods, and only when one of them listens on its channel.
    if (this.#interest !== undefined && !this.#interest.wanted(slot)) {
      this.#local.emit(packet, callback)
      return
    }
    let frame: Buffer
    try {
      frame = encodeMessage(packet, this.#origin)
    } catch (err) {
      callback(err as Error)
      return
    }
    let parts = 2
    let failure: Error | undefined
    const both = (err?: Error): void => {
      if (err !== undefined && failure === undefined) failure = err
      if (--parts === 0) callback(failure)
    }
    this.#local.emit(packet, both)
    this.#queue(slot, frame, both)
  }

  /**
   * Frames of one channel emitted in one event-loop turn (aedes handles every PUBLISH of a socket
   * read in one) go out as one batch: one PUBLISH, one message for each subscribed pod. A frame
   * on another channel sends the batch first, so the frames leave in emit order [MQTT-4.6.0-5].
   */
  #queue (slot: number, frame: Buffer, callback: (error?: Error) => void): void {
    if (this.#batch !== undefined && this.#batch.slot !== slot) this.#flush()
    let batch = this.#batch
    if (batch === undefined) {
      batch = this.#batch = { slot, frames: [], callbacks: [], bytes: 0 }
      if (!this.#flushScheduled) {
        this.#flushScheduled = true
        setImmediate(this.#flushNow)
      }
    }
    batch.frames.push(frame)
    batch.callbacks.push(callback)
    batch.bytes += frame.length
    if (batch.bytes >= MAX_BATCH_BYTES || batch.frames.length >= MAX_BATCH_FRAMES) this.#flush()
  }

  #flush (): void {
    const batch = this.#batch
    if (batch === undefined) return
    this.#batch = undefined
    const { frames, callbacks } = batch
    if (frames.length === 1) {
      this.#send(batch.slot, frames[0]!, callbacks[0]!)
      return
    }
    this.#send(batch.slot, encodeBatch(frames), (err) => { for (const callback of callbacks) callback(err) })
  }

  /** One frame to the other pods over Redis; `callback` once it has left (sharded: held on a slot move). */
  #send (slot: number, frame: Buffer, callback: (error?: Error) => void): void {
    if (!this.#sharded) {
      this.#pub.publish(this.#names[slot]!, frame).then(() => callback(), (err: Error) => callback(err))
      return
    }
    const message: HeldMessage = { seq: this.#sent[slot] = this.#sent[slot]! + 1, frame, callback }
    const held = this.#held.get(slot)
    if (held !== undefined) {
      held.push(message)
      return
    }
    publishMessage(this.#pub, true, this.#names[slot]!, frame).then((receivers) => {
      if (receivers > 0) {
        this.#heard[slot] = 1
        callback()
      } else if (this.#heard[slot] === 1 && !this.closed) this.#hold(slot, message)
      else callback()
    }, (err: Error) => callback(err))
  }

  /** Queues a message that reached no one on a channel that had subscribers; retries the queue in order. */
  #hold (slot: number, message: HeldMessage): void {
    const held = this.#held.get(slot)
    if (held !== undefined) {
      // replies come in emit order, but later emits may already have queued: keep emit order
      let at = held.length
      while (at > 0 && held[at - 1]!.seq > message.seq) at--
      held.splice(at, 0, message)
      return
    }
    this.#held.set(slot, [message])
    void this.#retry(slot)
  }

  async #retry (slot: number): Promise<void> {
    const channel = this.#names[slot]!
    const held = this.#held.get(slot)!
    const deadline = Date.now() + HOLD_MS
    let delay = RETRY_FIRST_MS
    while (held.length > 0 && !this.closed) {
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, RETRY_MAX_MS)
      const expired = Date.now() >= deadline
      while (held.length > 0 && !this.closed) {
        const next = held[0]!
        let receivers: number
        try {
          receivers = await publishMessage(this.#pub, true, channel, next.frame)
        } catch (err) {
          held.shift()
          next.callback(err as Error)
          continue
        }
        if (receivers === 0 && !expired) break
        held.shift()
        next.callback()
      }
      if (expired) this.#heard[slot] = 0
    }
    this.#held.delete(slot)
    for (const left of held) left.callback(new StarlingError('STARLING_ERR_CLOSED', ['the cluster emitter']))
  }

  close (done?: () => void): this {
    const callback = done ?? (() => {})
    if (this.closed) {
      setImmediate(callback)
      return this
    }
    this.#flush()
    this.#interest?.close()
    this.closed = true
    this.#offMessage()
    this.#sub.off('ready', this.#onReady)
    this.#sub.off('nodeError', this.#onNodeError)
    this.#sub.off('-node', this.#onNodeLost)
    clearInterval(this.#slotsTimer)
    clearInterval(this.#lingerTimer)
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#controlRetry)
    // QUIT after the PUBLISHes already queued, as mqemitter-redis; bounded when Redis is away
    void Promise.all([closeRedisClient(this.#sub), closeRedisClient(this.#pub)]).then(() => this.#local.close(callback))
    return this
  }

  /** Subscribes the control channel, then says hello to the peers (emitter-interest.ts). */
  #joinControl (): void {
    const interest = this.#interest
    if (interest === undefined || this.closed) return
    interest.leave()
    subscribeChannels(this.#sub, this.#sharded, [this.#control!.toString()]).then(
      () => interest.join(),
      (err: Error) => {
        this.#error(err)
        // retried on the next 'ready'; sharded, that may never come (see SUBSCRIBE_RETRY_MS)
        if (this.#sharded && this.#controlRetry === undefined && !this.closed) {
          this.#controlRetry = setTimeout(() => {
            this.#controlRetry = undefined
            this.#joinControl()
          }, SUBSCRIBE_RETRY_LATER_MS)
          this.#controlRetry.unref()
        }
      }
    )
  }

  #subscribe (slots: readonly number[]): void {
    const request = this.#sharded
      ? this.#subscribeSharded(slots)
      : subscribeChannels(this.#sub, false, slots.map((s) => this.#names[s]!)).catch((err: Error) => this.#error(err)) // again on the next 'ready' (#onReady)
    for (const s of slots) this.#pending.set(s, request)
    void request.then(() => {
      for (const s of slots) if (this.#pending.get(s) === request) this.#pending.delete(s)
    })
  }

  /** Whether this pod is (or should be) subscribed to a channel: a local filter needs it, or it lingers. */
  #subscribed (slot: number): boolean {
    return this.#filtered(slot) || this.#lingering.has(slot)
  }

  /** Whether a local filter needs the channel. */
  #filtered (slot: number): boolean {
    return (this.#refs[slot] ?? 0) > 0
  }

  /** Unsubscribes the channels that lingered `lingerMs` without a local filter. */
  #unsubscribeIdle (): void {
    const cutoff = Date.now() - this.#lingerMs
    const idle: string[] = []
    for (const [slot, since] of this.#lingering) {
      if (since > cutoff) continue
      this.#lingering.delete(slot)
      this.#announced[slot] = 0
      idle.push(this.#names[slot]!)
    }
    if (this.#lingering.size === 0) {
      clearInterval(this.#lingerTimer)
      this.#lingerTimer = undefined
    }
    if (idle.length === 0 || this.closed) return
    this.#interest?.changed()
    // no wait for the reply: nothing matches locally, and a later SUBSCRIBE of the same channel
    // goes out after this on the same connection
    unsubscribeChannels(this.#sub, this.#sharded, idle).catch((err: Error) => this.#error(err))
  }

  /** Resolves once the channels are subscribed, or once the quick retries failed (the rest is retried later). */
  async #subscribeSharded (slots: readonly number[]): Promise<void> {
    let left = slots
    for (let attempt = 0; ; attempt++) {
      const { failed, error } = await ssubscribeEach(this.#sub as Cluster, left.map((s) => this.#names[s]!))
      if (error === undefined || this.closed) return
      left = left.filter((s) => this.#subscribed(s) && failed.includes(this.#names[s]!))
      if (left.length === 0) return
      const wait = SUBSCRIBE_RETRY_MS[attempt]
      if (wait === undefined) {
        this.#error(error)
        for (const s of left) this.#failed.add(s)
        this.#retryLater()
        return
      }
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  #retryLater (): void {
    if (this.#retryTimer !== undefined || this.closed) return
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      const wanted = [...this.#failed].filter((slot) => this.#subscribed(slot))
      this.#failed.clear()
      if (wanted.length > 0 && !this.closed) this.#subscribe(wanted)
    }, SUBSCRIBE_RETRY_LATER_MS)
    this.#retryTimer.unref()
  }

  /**
   * Every frame is checked before use (a throw here, inside ioredis' message handler, would end
   * the process — and every pod gets the same frame): a bad one is dropped and reported.
   */
  #receive (message: Buffer): void {
    if (this.closed) return
    if (message[0] !== BATCH) {
      this.#receiveFrame(message)
      return
    }
    const frames = splitBatch(message)
    if (frames === undefined) {
      this.#onInvalidFrame(new StarlingError('STARLING_ERR_BUS_FRAME', ['dropped: broken batch']))
      return
    }
    // A batch mostly repeats a few topics (one publisher's stream): a topic found to match a
    // local filter is not matched again for the next frames of the batch (mqemitter matches it
    // once more to deliver). Only a match is remembered: a frame is never skipped on it.
    this.#matchedTopic = undefined
    for (const frame of frames) this.#receiveFrame(frame)
    this.#matchedTopic = undefined
  }

  /** The topic of the last frame of the batch being received that matched a local filter. */
  #matchedTopic: string | undefined

  #receiveFrame (message: Buffer): void {
    if (isFrameFrom(message, this.#origin)) return // delivered locally at emit
    let packet: EmittedPacket
    try {
      const topic = frameTopic(message)
      if (topic === undefined) throw new StarlingError('STARLING_ERR_BUS_FRAME', ['not a Starling frame'])
      // a topic that matched earlier in the batch was checked then
      if (topic !== this.#matchedTopic) {
        const invalid = invalidFrameTopic(topic)
        if (invalid !== undefined) throw new StarlingError('STARLING_ERR_BUS_FRAME', [invalid])
        const matcher = this.#local._matcher
        if (matcher !== undefined && matcher.match(topic).length === 0) return
        this.#matchedTopic = topic
      }
      packet = decodeMessage(message, topic)
    } catch (err) {
      this.#onInvalidFrame(new StarlingError('STARLING_ERR_BUS_FRAME', [`dropped: ${(err as Error).message}`], { cause: err }))
      return
    }
    // Backpressure from the bus into delivery: Redis pushes whatever is published, so while local
    // subscribers are slow (a delivery ends once its PUBLISH is written or dropped) the messages
    // in delivery are bounded here. QoS 0 may be lost [MQTT-4.3.1]; QoS 1/2 are still delivered.
    if (this.#local.current >= this.#maxPending && packet.qos === 0) {
      this.state.emit('dropped', packet)
      return
    }
    this.#local.emit(packet)
  }

  #error (err: Error): void {
    if (!this.closed) this.state.emit('error', err)
  }
}

