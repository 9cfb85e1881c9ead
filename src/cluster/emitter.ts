import { EventEmitter } from 'node:events'
import mqemitter from 'mqemitter'
import { decodeMessage, encodeMessage, frameTopic, invalidFrameTopic, type EmittedPacket } from './emitter-codec.js'
import { filterSlot, topicSlot, type RouteLayout } from './emitter-route.js'
import type { RedisClient } from './redis.js'
import { StarlingError } from '../errors.js'
import { withTimeout } from '../util/timeout.js'

/**
 * Starling's cluster emitter: the mqemitter interface aedes uses (`on`, `removeListener`, `emit`,
 * `close`, `current`), carried between pods over a FIXED set of Redis pub/sub channels instead
 * of one channel or PSUBSCRIBE pattern per topic filter (mqemitter-redis). Redis matches every
 * PUBLISH against every pattern, so its cost grew with the number of wildcard filters; here a
 * PUBLISH costs the same whatever the filters: one channel, at most one subscriber per pod.
 *
 * - emit: one PUBLISH of the packet on the channel of its topic (emitter-route.ts); the callback
 *   runs when Redis has answered, i.e. the message has left the pod. A pod receives its own
 *   messages back from Redis like every other pod, so all messages of one publisher reach every
 *   pod in the order it emitted them (one publish connection, one subscribe connection).
 * - on: the listener goes into a local mqemitter (the in-process one aedes uses by default) and
 *   the channel(s) the filter needs get a reference; a channel's first reference SUBSCRIBEs it,
 *   and the callback runs once every channel the filter needs is subscribed in Redis.
 * - removeListener: drops the listener and the references; the last one UNSUBSCRIBEs.
 * - a message from Redis is dispatched to the local listeners whose filter matches its topic
 *   (all in one synchronous loop, as aedes' dedupe expects); a pod with none skips decoding it.
 *
 * Each message is published on exactly one channel and a pod subscribes a channel at most once,
 * so a pod gets each message at most once: no message ids or LRU dedupe are needed (aedes keeps
 * its per-client (brokerId, brokerCounter) dedupe for overlapping subscriptions).
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
}

const CLOSE_WAIT_MS = 2000

export class RedisEmitter {
  /** Errors of background work (SUBSCRIBE, UNSUBSCRIBE, undecodable messages), as mqemitter-redis' `state`. */
  readonly state = new EventEmitter()
  closed = false
  readonly #local: LocalEmitter
  readonly #pub: RedisClient
  readonly #sub: RedisClient
  readonly #layout: RouteLayout
  readonly #names: readonly string[]
  /** Local registrations per filter (`on` minus `removeListener`). */
  readonly #filters = new Map<string, number>()
  /** Filters (distinct) that need each channel. */
  readonly #refs: Int32Array
  /** SUBSCRIBEs Redis has not answered yet, per channel. */
  readonly #pending = new Map<number, Promise<void>>()
  readonly #onMessage: (channel: Buffer, message: Buffer) => void
  readonly #onReady: () => void
  readonly #onInvalidFrame: (err: Error) => void
  readonly #maxPending: number

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
    this.#names = Array.from({ length: channels }, (_, slot) => options.channelName(slot))
    this.#refs = new Int32Array(channels)
    this.#onInvalidFrame = options.onInvalidFrame ?? ((err) => this.#error(err))
    this.#onMessage = (_channel, message) => this.#receive(message)
    // ioredis re-subscribes what it knew after a reconnect; this also retries SUBSCRIBEs that
    // failed while Redis was away (SUBSCRIBE is idempotent)
    this.#onReady = () => {
      const wanted = this.#names.filter((_, slot) => (this.#refs[slot] ?? 0) > 0)
      if (wanted.length > 0 && !this.closed) this.#sub.subscribe(...wanted).catch((err: Error) => this.#error(err))
    }
    this.#sub.on('messageBuffer', this.#onMessage)
    this.#sub.on('ready', this.#onReady)
  }

  /** Messages being dispatched to local listeners. */
  get current (): number {
    return this.#local.current
  }

  on (topic: string, listener: Listener, done?: () => void): this {
    this.#local.on(topic, listener)
    const slot = filterSlot(topic, this.#layout)
    const slots = slot === 'all' ? this.#names.map((_, i) => i) : [slot]
    const registered = this.#filters.get(topic) ?? 0
    this.#filters.set(topic, registered + 1)
    if (registered === 0) {
      const fresh: number[] = []
      for (const s of slots) if ((this.#refs[s] = (this.#refs[s] ?? 0) + 1) === 1) fresh.push(s)
      if (fresh.length > 0) this.#subscribe(fresh)
    }
    // also wait for a SUBSCRIBE another filter started for the same channel
    const waits: Array<Promise<void>> = []
    for (const s of slots) {
      const pending = this.#pending.get(s)
      if (pending !== undefined) waits.push(pending)
    }
    if (done !== undefined) {
      if (waits.length === 0) setImmediate(done)
      else void Promise.all(waits).then(() => done())
    }
    return this
  }

  removeListener (topic: string, listener: Listener, done?: () => void): this {
    const registered = this.#filters.get(topic) ?? 0
    if (registered > 1) this.#filters.set(topic, registered - 1)
    else if (registered === 1) {
      this.#filters.delete(topic)
      const slot = filterSlot(topic, this.#layout)
      const slots = slot === 'all' ? this.#names.map((_, i) => i) : [slot]
      const idle: string[] = []
      for (const s of slots) if ((this.#refs[s] = (this.#refs[s] ?? 0) - 1) === 0) idle.push(this.#names[s]!)
      // no wait for the reply: nothing matches locally any more, and a later SUBSCRIBE of the
      // same channel goes out after this on the same connection
      if (idle.length > 0 && !this.closed) this.#sub.unsubscribe(...idle).catch((err: Error) => this.#error(err))
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
    let frame: Buffer
    try {
      frame = encodeMessage(packet)
    } catch (err) {
      callback(err as Error)
      return
    }
    const channel = this.#names[topicSlot(packet.topic, this.#layout)]!
    this.#pub.publish(channel, frame).then(() => callback(), (err: Error) => callback(err))
  }

  close (done?: () => void): this {
    const callback = done ?? (() => {})
    if (this.closed) {
      setImmediate(callback)
      return this
    }
    this.closed = true
    this.#sub.off('messageBuffer', this.#onMessage)
    this.#sub.off('ready', this.#onReady)
    // QUIT after the PUBLISHes already queued, as mqemitter-redis; bounded when Redis is away
    void Promise.all([quit(this.#sub), quit(this.#pub)]).then(() => this.#local.close(callback))
    return this
  }

  #subscribe (slots: readonly number[]): void {
    const request = this.#sub.subscribe(...slots.map((s) => this.#names[s]!)).then(
      () => {},
      (err: Error) => this.#error(err) // retried on the next 'ready' (#onReady)
    )
    for (const s of slots) this.#pending.set(s, request)
    void request.then(() => {
      for (const s of slots) if (this.#pending.get(s) === request) this.#pending.delete(s)
    })
  }

  /**
   * Every frame is checked before use (a throw here, inside ioredis' message handler, would end
   * the process — and every pod gets the same frame): a bad one is dropped and reported.
   */
  #receive (message: Buffer): void {
    if (this.closed) return
    let packet: EmittedPacket
    try {
      const topic = frameTopic(message)
      if (topic === undefined) throw new StarlingError('STARLING_ERR_BUS_FRAME', ['not a Starling frame'])
      const invalid = invalidFrameTopic(topic)
      if (invalid !== undefined) throw new StarlingError('STARLING_ERR_BUS_FRAME', [invalid])
      const matcher = this.#local._matcher
      if (matcher !== undefined && matcher.match(topic).length === 0) return
      packet = decodeMessage(message)
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

async function quit (conn: RedisClient): Promise<void> {
  if (conn.status === 'end') return
  await withTimeout(conn.quit().then(() => {}, () => {}), CLOSE_WAIT_MS, () => {})
  if ((conn.status as string) !== 'end') conn.disconnect()
}
