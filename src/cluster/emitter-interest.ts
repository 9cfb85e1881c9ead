import { publishMessage } from './pubsub.js'
import { StarlingError } from '../errors.js'
import type { RedisClient } from './redis.js'

/**
 * Which bus channels another pod listens on, so that the emitter sends to Redis only what some
 * other pod needs (a pod delivers its own messages locally). Every pod announces its interest
 * (a bitmap of the channels it is subscribed to) on one control channel:
 *
 *   {"t":"h","p":pod}                        hello: a pod (re)joins; every other pod answers with its interest
 *   {"t":"i","p":pod,"s":seq,"c":base64,"w":1} interest: the pod's whole bitmap, version `s`; `w`: ack wanted
 *   {"t":"a","p":pod,"to":pod,"s":seq}       ack: `p` has applied `to`'s interest `s`
 *   {"t":"b","p":pod}                        bye: the pod leaves; its interest is dropped
 *
 * The race with a new subscriber: pod B gets a SUBSCRIBE for a channel nobody listened on while
 * pod A publishes on it and sends nothing to Redis. B subscribes the channel in Redis, then
 * announces its interest and holds the SUBACK until every peer it knows has acked (A has applied
 * it: from then on A's emits of the channel go to Redis, and B's subscription is already there).
 * A message published after the SUBACK is therefore emitted after A applied the interest: none
 * is lost (the subscription is in force from its SUBACK). A peer that does not ack within
 * ACK_MS (dead, stalled) is not waited for again until it is heard from; one not heard from for
 * PEER_EXPIRE_MS (a minute) is dropped.
 * (A peer stalled for longer than ACK_MS while another pod takes a new subscriber may still
 * handle a PUBLISH before that pod's announcement when it resumes: the bound of the guarantee.)
 *
 * Until a pod has heard its peers (WARM_MS after its hello, again after every reconnect of its
 * subscriber: control messages may have been missed meanwhile) it sends every message to Redis,
 * and its own announcements wait for that too, so that it knows whose ack to wait for.
 * Pod ids are random per emitter (a restarted pod is a new peer); every pod re-announces its
 * interest every HEARTBEAT_MS.
 */

/** How long a (re)joining pod listens for its peers' answers before it trusts what it knows. */
export const WARM_MS = 400
/** Longest wait for a peer's ack of an interest announcement (delays that SUBACK at most this). */
export const ACK_MS = 1000
/** Every pod re-announces its interest this often (it also tells peers it is alive). */
export const HEARTBEAT_MS = 5000
/**
 * A peer not heard from for this long is gone: its interest no longer counts. Long on purpose:
 * dropping a live peer's interest loses its subscribers' messages until it is heard again, while
 * keeping a dead one's only costs PUBLISHes nobody reads.
 */
export const PEER_EXPIRE_MS = 12 * HEARTBEAT_MS

interface Peer {
  seq: number
  bits: Uint8Array
  heardAt: number
  /** Did not ack in time: not waited for until heard from again. */
  suspect: boolean
}

interface Announcement {
  readonly seq: number
  readonly waiting: Set<string>
  readonly resolve: () => void
}

export interface InterestOptions {
  /** Connection for PUBLISH (the emitter's). */
  readonly pubConn: RedisClient
  readonly sharded: boolean
  /** The control channel's name (keys.ts). */
  readonly channel: string
  /** Number of bus channels. */
  readonly channels: number
  /** This emitter's id (hex). */
  readonly self: string
  /** This pod's interest now: whether it listens on each channel. */
  readonly listening: (slot: number) => boolean
  readonly onError: (err: Error) => void
}

export class BusInterest {
  readonly #o: InterestOptions
  readonly #peers = new Map<string, Peer>()
  /** Peers with interest in each channel. */
  readonly #remote: Int32Array
  #warm = false
  #warmTimer: NodeJS.Timeout | undefined
  #warmWaiters: Array<() => void> = []
  readonly #heartbeat: NodeJS.Timeout
  #seq = 0
  /** An announcement queued for this turn (several SUBSCRIBEs share it). */
  #queued: Promise<void> | undefined
  /** An unacked announcement (interest dropped) queued for this turn. */
  #dropQueued = false
  readonly #announcements = new Set<Announcement>()
  #closed = false

  constructor (options: InterestOptions) {
    this.#o = options
    this.#remote = new Int32Array(options.channels)
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS).unref()
  }

  /** Whether a message on `slot` must go to Redis: a peer listens there, or the peers are not known yet. */
  wanted (slot: number): boolean {
    return !this.#warm || this.#remote[slot]! > 0
  }

  /** Peers known now (for tests and metrics). */
  get peers (): number {
    return this.#peers.size
  }

  /** The control channel may be missing messages (reconnect, slot move): send everything until join(). */
  leave (): void {
    this.#warm = false
    clearTimeout(this.#warmTimer)
  }

  /**
   * The control channel is subscribed (first time, or again after a reconnect): say hello and
   * listen WARM_MS for the peers' interest before trusting it.
   */
  join (): void {
    if (this.#closed) return
    this.#warm = false
    clearTimeout(this.#warmTimer)
    this.#send({ t: 'h', p: this.#o.self })
    // our own interest too: a peer that missed an announcement while we were away learns it
    this.#send(this.#interestMessage(false))
    this.#warmTimer = setTimeout(() => {
      this.#warm = true
      const waiters = this.#warmWaiters
      this.#warmWaiters = []
      for (const w of waiters) w()
    }, WARM_MS)
    this.#warmTimer.unref()
  }

  /**
   * Announces this pod's interest as it is now and resolves once every peer has applied it (or
   * ACK_MS passed): call after the channels' SUBSCRIBE is confirmed, before the SUBACK.
   */
  async announce (): Promise<void> {
    if (this.#closed) return
    if (!this.#warm) {
      // bounded: when the control channel could not be subscribed, #warm stays false and every
      // message goes to Redis anyway
      await new Promise<void>((resolve) => {
        this.#warmWaiters.push(resolve)
        setTimeout(resolve, WARM_MS + ACK_MS).unref()
      })
    }
    if (this.#queued !== undefined) return await this.#queued
    const queued = new Promise<void>((resolve) => {
      queueMicrotask(() => {
        this.#queued = undefined
        this.#announceNow().then(resolve, resolve)
      })
    })
    this.#queued = queued
    return await queued
  }

  /** A channel lost its last local listener: tell the peers (nothing waits for them). */
  changed (): void {
    if (this.#closed || this.#dropQueued) return
    this.#dropQueued = true
    queueMicrotask(() => {
      this.#dropQueued = false
      this.#seq++
      this.#send(this.#interestMessage(false))
    })
  }

  async #announceNow (): Promise<void> {
    if (this.#closed) return
    this.#seq++
    const waiting = new Set<string>()
    for (const [id, peer] of this.#peers) if (!peer.suspect) waiting.add(id)
    if (waiting.size === 0) {
      this.#send(this.#interestMessage(true))
      return
    }
    let announcement: Announcement | undefined
    await new Promise<void>((resolve) => {
      announcement = { seq: this.#seq, waiting, resolve }
      this.#announcements.add(announcement)
      const timer = setTimeout(resolve, ACK_MS)
      timer.unref()
      this.#send(this.#interestMessage(true))
    })
    this.#announcements.delete(announcement!)
    for (const id of announcement!.waiting) {
      const peer = this.#peers.get(id)
      if (peer !== undefined) peer.suspect = true
    }
  }

  /** A message on the control channel (anyone with access to Redis may publish there: checked). */
  receive (message: Buffer): void {
    if (this.#closed) return
    let m: { t?: unknown, p?: unknown, s?: unknown, c?: unknown, w?: unknown, to?: unknown }
    try {
      m = JSON.parse(message.toString('utf8')) as typeof m
    } catch {
      this.#o.onError(new StarlingError('STARLING_ERR_BUS_FRAME', ['control message is not JSON']))
      return
    }
    if (m === null || typeof m !== 'object' || typeof m.p !== 'string' || m.p === this.#o.self) return
    const from = m.p
    const known = this.#peers.get(from)
    if (known !== undefined) {
      known.heardAt = Date.now()
      known.suspect = false
    }
    switch (m.t) {
      case 'h':
        if (known === undefined) this.#peers.set(from, { seq: -1, bits: new Uint8Array(this.#remote.length), heardAt: Date.now(), suspect: false })
        this.#send(this.#interestMessage(false))
        return
      case 'i': {
        if (typeof m.s !== 'number' || typeof m.c !== 'string') return
        const peer = known ?? { seq: -1, bits: new Uint8Array(this.#remote.length), heardAt: Date.now(), suspect: false }
        if (known === undefined) this.#peers.set(from, peer)
        if (m.s > peer.seq) {
          peer.seq = m.s
          this.#apply(peer, Buffer.from(m.c, 'base64'))
        }
        if (m.w === 1) this.#send({ t: 'a', p: this.#o.self, to: from, s: m.s })
        return
      }
      case 'a':
        if (m.to !== this.#o.self || typeof m.s !== 'number') return
        for (const a of this.#announcements) {
          if (m.s >= a.seq && a.waiting.delete(from) && a.waiting.size === 0) a.resolve()
        }
        return
      case 'b':
        if (known !== undefined) this.#drop(from, known)
    }
  }

  close (): void {
    if (this.#closed) return
    this.#send({ t: 'b', p: this.#o.self })
    this.#closed = true
    clearInterval(this.#heartbeat)
    clearTimeout(this.#warmTimer)
    for (const w of this.#warmWaiters) w()
    for (const a of this.#announcements) a.resolve()
  }

  #apply (peer: Peer, bits: Buffer): void {
    const old = peer.bits
    const next = new Uint8Array(old.length)
    next.set(bits.subarray(0, old.length))
    for (let i = 0; i < old.length; i++) {
      const diff = old[i]! ^ next[i]!
      if (diff === 0) continue
      for (let b = 0; b < 8; b++) {
        if ((diff & (1 << b)) !== 0 && i * 8 + b < this.#remote.length) this.#remote[i * 8 + b]! += (next[i]! & (1 << b)) !== 0 ? 1 : -1
      }
    }
    peer.bits = next
  }

  #drop (id: string, peer: Peer): void {
    this.#apply(peer, Buffer.alloc(0))
    this.#peers.delete(id)
    for (const a of this.#announcements) if (a.waiting.delete(id) && a.waiting.size === 0) a.resolve()
  }

  #beat (): void {
    const cutoff = Date.now() - PEER_EXPIRE_MS
    for (const [id, peer] of this.#peers) if (peer.heardAt < cutoff) this.#drop(id, peer)
    this.#send(this.#interestMessage(false))
  }

  #interestMessage (ack: boolean): Record<string, unknown> {
    const bits = Buffer.alloc(Math.ceil(this.#remote.length / 8))
    for (let slot = 0; slot < this.#remote.length; slot++) if (this.#o.listening(slot)) bits[slot >> 3]! |= 1 << (slot & 7)
    return { t: 'i', p: this.#o.self, s: this.#seq, c: bits.toString('base64'), ...(ack ? { w: 1 } : {}) }
  }

  #send (message: Record<string, unknown>): void {
    if (this.#closed) return
    publishMessage(this.#o.pubConn, this.#o.sharded, this.#o.channel, JSON.stringify(message)).catch((err: Error) => this.#o.onError(err))
  }
}
