import type { Client, Engine, PublishPacket, SharedSubscriptionHooks } from '../broker/engine.js'
import { filterMatches } from '../broker/topics.js'
import type { Logger } from '../logger.js'
import { AckRouter } from './acks.js'
import { GroupDispatcher, type Member } from './dispatcher.js'
import type { ShareMetrics } from './metrics.js'
import { parseShare, type ShareFilter } from './parse.js'
import type { QueueBackend, ShareMessage } from './queue.js'
import { Sweeper } from '../util/sweeper.js'

/** The object aedes calls for `$share/...` subscriptions (our aedes patch, `sharedSubscriptions`). */
export type { SharedSubscriptionHooks }

export interface SharedGroupsDeps {
  readonly backend: QueueBackend
  readonly metrics: ShareMetrics
  readonly logger: Logger
  /** `share.inflightPerMember` */
  readonly window: number
  /** `share.readBatch` */
  readonly readBatch: number
  /** `share.sweepMs` */
  readonly sweepMs: number
}

/**
 * Shared subscriptions (`$share/<group>/<filter>`, MQTT 5 §4.8.2; also for 3.1.1 clients): each
 * published message matching a group's filter is put once into the group's queue (the
 * `published` hook, before the publisher's PUBACK), and this pod's members of the group read
 * from it in turn. Ordinary subscriptions on the same topics are untouched; each group gets its
 * own copy.
 */
export class SharedGroups {
  readonly hooks: SharedSubscriptionHooks
  readonly onAck: (client: Client, messageId: number, stage?: 'pubrec') => boolean
  readonly #deps: SharedGroupsDeps
  readonly #acks = new AckRouter()
  readonly #dispatchers = new Map<string, GroupDispatcher>()
  readonly #joining = new Map<string, Promise<GroupDispatcher>>()
  readonly #members = new Map<Client, Map<string, Member>>()
  readonly #sweeper: Sweeper
  #closed = false

  constructor (deps: SharedGroupsDeps) {
    this.#deps = deps
    this.hooks = {
      validFilter: (topic) => parseShare(topic) !== undefined,
      subscribe: (client, topic, qos, si, done) => {
        this.#subscribe(client, topic, qos as 0 | 1 | 2, si).then(() => done(), (err: unknown) => {
          deps.logger.warn({ err: (err as Error).message, clientId: client.id }, 'joining a shared subscription group failed')
          done(err as Error)
        })
      },
      unsubscribe: (client, topic, done) => {
        this.#leave(client, topic)
        done()
      }
    }
    this.onAck = (client, messageId, stage) => {
      // A QoS 2 group message stays its member's until PUBCOMP, not PUBREC: its PUBREL is not in
      // the session store (a group message never is), so after a broken connection nothing
      // would resend it and a client that delivers on PUBREL (mqtt.js) would never see the
      // message; taken back at the disconnect, it goes to another member (at least once).
      if (stage === 'pubrec') return this.#acks.tracks(client, messageId)
      return this.#acks.acked(client, messageId) !== undefined
    }
    this.#sweeper = new Sweeper(() => this.#sweep(), { name: 'shared subscription sweep', everyMs: deps.sweepMs, logger: deps.logger }).start()
  }

  /** Groups that exist (cluster-wide in cluster mode; `share.maxGroups` bounds them). */
  get groupCount (): number {
    return this.#deps.backend.groups().length
  }

  /** Does the group `<group>/<filter>` exist (here or, in cluster mode, on any pod)? */
  hasGroup (key: string): boolean {
    return this.#dispatchers.has(key) || this.#deps.backend.groups().some((share) => share.key === key)
  }

  /** Does a group (here or, in cluster mode, on any pod) take messages on `topic`? */
  takes (topic: string): boolean {
    for (const share of this.#deps.backend.groups()) if (filterMatches(share.filter, topic)) return true
    return false
  }

  /** Wires the broker's events: a group message aedes dropped for the member counts as done. */
  attach (broker: Engine): void {
    broker.on('publishDropped', (packet, client, reason) => {
      if (client === null || packet.messageId === undefined) return
      const dispatcher = this.#acks.acked(client, packet.messageId)
      // [MQTT-3.1.2-25] too large for the member: discarded as if delivered.
      if (dispatcher !== undefined) this.#deps.metrics.dropped.inc({ group: dispatcher.queue.share.group, reason: reason === 'packet_too_large' ? 'too_large' : 'max_length' })
    })
  }

  /** aedes `published` hook: runs before the publisher's PUBACK, so an acknowledged message is queued. */
  published (packet: PublishPacket, done: (err?: Error) => void): void {
    const groups = this.#deps.backend.groups()
    let matched: ShareFilter[] | undefined
    for (const share of groups) {
      if (filterMatches(share.filter, packet.topic)) (matched ??= []).push(share)
    }
    if (matched === undefined) {
      done()
      return
    }
    const shares = matched
    this.#deps.backend.enqueue(shares, toShareMessage(packet)).then(() => {
      for (const share of shares) this.#deps.metrics.counts.enqueued.add(share.group)
      done()
    }, (err: unknown) => {
      this.#deps.logger.warn({ err: (err as Error).message, topic: packet.topic }, 'queueing a message for shared subscription groups failed')
      // A QoS 1/2 publisher is told (PUBACK 0x80 / closed connection) and sends it again.
      done(packet.qos > 0 ? err as Error : undefined)
    })
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    void this.#sweeper.stop()
    for (const dispatcher of this.#dispatchers.values()) {
      for (const member of [...dispatcher.members]) dispatcher.remove(member)
      dispatcher.queue.close()
    }
    this.#dispatchers.clear()
    this.#members.clear()
    await this.#deps.backend.close()
  }

  async #subscribe (client: Client, topic: string, qos: 0 | 1 | 2, si: number | undefined): Promise<void> {
    const share = parseShare(topic)
    if (share === undefined || this.#closed) return
    const dispatcher = await this.#dispatcher(share)
    const mine = this.#members.get(client)
    const existing = mine?.get(share.key)
    if (existing !== undefined) {
      existing.qos = qos
      existing.si = si
      return
    }
    if (client.closed || this.#closed) {
      if (dispatcher.members.length === 0) this.#drop(share.key, dispatcher)
      return
    }
    const member: Member = { client, topic, qos, si, inflight: new Map(), sending: 0, reserved: 0, read: undefined, gone: false }
    if (mine === undefined) this.#members.set(client, new Map([[share.key, member]]))
    else mine.set(share.key, member)
    dispatcher.add(member)
  }

  #leave (client: Client, topic: string): void {
    const share = parseShare(topic)
    if (share === undefined) return
    const mine = this.#members.get(client)
    const member = mine?.get(share.key)
    if (mine === undefined || member === undefined) return
    mine.delete(share.key)
    if (mine.size === 0) this.#members.delete(client)
    const dispatcher = this.#dispatchers.get(share.key)
    if (dispatcher === undefined) return
    dispatcher.remove(member)
    if (dispatcher.members.length === 0) this.#drop(share.key, dispatcher)
  }

  #drop (key: string, dispatcher: GroupDispatcher): void {
    if (this.#dispatchers.get(key) !== dispatcher) return
    this.#dispatchers.delete(key)
    dispatcher.queue.close()
  }

  async #dispatcher (share: ShareFilter): Promise<GroupDispatcher> {
    const known = this.#dispatchers.get(share.key)
    if (known !== undefined) return known
    let joining = this.#joining.get(share.key)
    if (joining === undefined) {
      joining = this.#deps.backend.join(share).then((queue) => {
        const dispatcher = new GroupDispatcher({
          queue,
          metrics: this.#deps.metrics,
          logger: this.#deps.logger,
          window: this.#deps.window,
          readBatch: this.#deps.readBatch,
          track: (client, messageId, member) => this.#acks.track(client, messageId, member, dispatcher),
          untrack: (client, messageId) => this.#acks.untrack(client, messageId)
        })
        this.#dispatchers.set(share.key, dispatcher)
        return dispatcher
      }).finally(() => this.#joining.delete(share.key))
      this.#joining.set(share.key, joining)
    }
    return await joining
  }

  /** The backend's periodic work (trim, reclaim), then how many messages each group has pending. */
  async #sweep (): Promise<void> {
    await this.#deps.backend.sweep()
    const pending = new Map<string, number>()
    for (const dispatcher of this.#dispatchers.values()) {
      const group = dispatcher.queue.share.group
      pending.set(group, (pending.get(group) ?? 0) + dispatcher.pending)
    }
    this.#deps.metrics.pending.reset()
    for (const [group, n] of pending) this.#deps.metrics.pending.set({ group }, n)
    // A forgotten group's series go, and its label value is free for another group (§ metric labels).
    const live = new Set(pending.keys())
    for (const share of this.#deps.backend.groups()) live.add(share.group)
    this.#deps.metrics.forgetExcept(live)
  }
}

/** What a group keeps of a PUBLISH: no Topic Alias (per connection) nor Subscription Identifier (per subscriber). */
export function toShareMessage (packet: PublishPacket): ShareMessage {
  const source = packet as PublishPacket & { messageExpiry?: number }
  let properties: Record<string, unknown> | undefined
  if (source.properties !== undefined) {
    for (const [name, value] of Object.entries(source.properties)) {
      if (value === undefined || name === 'topicAlias' || name === 'subscriptionIdentifier') continue
      (properties ??= {})[name] = value
    }
  }
  return {
    topic: packet.topic,
    payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
    qos: packet.qos,
    retain: packet.retain,
    ...(properties !== undefined ? { properties } : {}),
    ...(source.messageExpiry !== undefined ? { messageExpiry: source.messageExpiry } : {}),
    enqueuedAt: Date.now()
  }
}
