import type { Client } from '../broker/engine.js'
import { PACKET_ID_MAX, RECEIVE_MAXIMUM_DEFAULT } from '../constants.js'
import type { Logger } from '../logger.js'
import type { ShareMetrics } from './metrics.js'
import type { GroupQueue, PendingRead, QueuedMessage } from './queue.js'

/** One client's membership of one group on this pod. */
export interface Member {
  readonly client: Client
  /** The `$share/...` filter it subscribed with. */
  readonly topic: string
  qos: 0 | 1 | 2
  si: number | undefined
  /** QoS 1/2 messages sent and not yet acknowledged, by packet identifier. */
  readonly inflight: Map<number, QueuedMessage>
  /** QoS 0 messages handed to aedes and not yet written. */
  sending: number
  /** Capacity promised to the read in progress. */
  reserved: number
  read: PendingRead | undefined
  gone: boolean
}

export interface DispatcherDeps {
  readonly queue: GroupQueue
  readonly metrics: ShareMetrics
  readonly logger: Logger
  /** Most group messages in flight to one member (also capped by its Receive Maximum). */
  readonly window: number
  /** Most messages one read takes for one member (`share.readBatch`). */
  readonly readBatch: number
  /** Called for a QoS 1/2 message sent to a member, so its acknowledgement comes back here. */
  readonly track: (client: Client, messageId: number, member: Member) => void
  readonly untrack: (client: Client, messageId: number) => void
}

/**
 * This pod's members of one group: each member with room in its window reads from the group's
 * queue (one read at a time, sized by that room), and a message read for a member goes to it.
 * A member that leaves hands its unacknowledged messages to another member here, or back to the
 * group's queue [MQTT-4.8.2] ("MAY attempt to send the message to another Client as soon as it
 * loses its connection to the first Client").
 */
export class GroupDispatcher {
  readonly members: Member[] = []
  readonly #deps: DispatcherDeps
  readonly #label: { group: string }
  /** Messages taken back from a member that left, for the next member with room. */
  #local: QueuedMessage[] = []
  #next = 0

  constructor (deps: DispatcherDeps) {
    this.#deps = deps
    this.#label = { group: deps.queue.share.group }
  }

  get queue (): GroupQueue {
    return this.#deps.queue
  }

  /** Messages this pod has sent to members and not yet seen acknowledged. */
  get pending (): number {
    let n = 0
    for (const member of this.members) n += member.inflight.size + member.sending
    return n
  }

  add (member: Member): void {
    this.members.push(member)
    this.pump(member)
  }

  /** The member left (unsubscribed or disconnected): its unacknowledged messages go to another member. */
  remove (member: Member): void {
    const i = this.members.indexOf(member)
    if (i < 0) return
    this.members.splice(i, 1)
    member.gone = true
    member.read?.cancel()
    const taken = [...member.inflight.entries()]
    member.inflight.clear()
    for (const [messageId] of taken) this.#deps.untrack(member.client, messageId)
    this.#redistribute(taken.map(([, message]) => message))
  }

  /** Starts a read for the member if it has room (local leftovers first). */
  pump (member: Member): void {
    if (member.gone || member.read !== undefined) return
    let room = this.#room(member)
    while (room > 0 && this.#local.length > 0) {
      this.#deliver(member, this.#local.shift() as QueuedMessage)
      room--
    }
    if (room <= 0) return
    // One turn takes at most share.readBatch messages: readers are served in the order they
    // asked, so small turns are what makes members take turns (a turn of a whole window would
    // let whoever asks while a backlog waits take it all). With messages in flight, a member
    // asks again once a turn fits, not on every acknowledgement.
    const turn = Math.min(room, this.#deps.readBatch)
    if (member.inflight.size + member.sending > 0 && turn < Math.min(this.#deps.readBatch, Math.ceil(this.#cap(member) / 2))) return
    member.reserved = turn
    const read = this.#deps.queue.read(turn)
    member.read = read
    read.result.then((messages) => {
      member.read = undefined
      member.reserved = 0
      if (member.gone) {
        this.#redistribute(messages)
        return
      }
      for (const message of messages) this.#deliver(member, message)
      this.pump(member)
    }, (err: unknown) => {
      member.read = undefined
      member.reserved = 0
      this.#deps.logger.warn({ err: (err as Error).message, group: this.#label.group }, 'group read failed; retrying')
      setTimeout(() => this.pump(member), 1000).unref()
    })
  }

  /** The member acknowledged (or refused, [MQTT-4.8.2-6]: discarded, not resent) a message. */
  acked (member: Member, messageId: number): void {
    const message = member.inflight.get(messageId)
    if (message === undefined) return
    member.inflight.delete(messageId)
    this.#deps.queue.ack([message.id])
    this.pump(member)
  }

  /** The member's window: share.inflightPerMember, at most its Receive Maximum [MQTT-3.3.4-7]. */
  #cap (member: Member): number {
    const receiveMaximum = member.client.receiveMaximum ?? RECEIVE_MAXIMUM_DEFAULT
    return Math.min(this.#deps.window, receiveMaximum)
  }

  #room (member: Member): number {
    return this.#cap(member) - member.inflight.size - member.sending - member.reserved
  }

  #redistribute (messages: readonly QueuedMessage[]): void {
    if (messages.length === 0) return
    if (this.members.length === 0) {
      this.#deps.queue.release(messages)
      return
    }
    this.#local.push(...messages)
    // Round-robin over the members left; each takes what fits in its window.
    // A member waiting on the queue stops waiting (its read resolves) and takes from here first.
    for (let n = 0; n < this.members.length && this.#local.length > 0; n++) {
      this.#next = (this.#next + 1) % this.members.length
      const member = this.members[this.#next] as Member
      if (member.read !== undefined) member.read.cancel()
      else this.pump(member)
    }
  }

  /** Hands one message to the member at min(publish QoS, subscription QoS) [MQTT-3.8.4-6]. */
  #deliver (member: Member, queued: QueuedMessage): void {
    const { message } = queued
    const client = member.client
    let properties = message.properties
    if (message.messageExpiry !== undefined) {
      const remainingMs = message.messageExpiry - Date.now()
      // [MQTT-3.3.2-5] an expired message is not delivered.
      if (remainingMs <= 0) {
        this.#deps.metrics.dropped.inc({ ...this.#label, reason: 'expired' })
        this.#deps.queue.ack([queued.id])
        return
      }
      properties = { ...properties, messageExpiryInterval: Math.ceil(remainingMs / 1000) }
    }
    if (member.si !== undefined) properties = { ...properties, subscriptionIdentifier: member.si }
    const qos = Math.min(message.qos, member.qos) as 0 | 1 | 2
    const rap = client.subscriptions[member.topic]?.rap === true
    const packet: Record<string, unknown> = {
      cmd: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos,
      // Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13]
      retain: rap && message.retain,
      dup: false,
      // No brokerId: aedes' duplicate filter is for one message through overlapping ordinary
      // subscriptions; a group copy is a delivery of its own [MQTT-4.8.2].
      shareGroup: this.#label.group
    }
    if (properties !== undefined) packet.properties = properties
    // The member's read rules (src/broker/acl.ts), checked before a packet identifier is taken:
    // a message it may not read is done for this group, as in Mosquitto (members share the
    // config file's rules; one whose token allows less does not pass it on to another member).
    if (!client.broker.authorizeForward(member.client, packet as { topic: string })) {
      this.#deps.metrics.dropped.inc({ ...this.#label, reason: 'acl' })
      this.#deps.queue.ack([queued.id])
      return
    }
    queued.deliveries++
    this.#deps.metrics.counts.delivered.add(this.#label.group)
    if (queued.deliveries > 1) this.#deps.metrics.counts.redelivered.add(this.#label.group)
    if (qos === 0) {
      member.sending++
      client.deliverQoS(packet, () => {
        member.sending--
        this.#deps.queue.ack([queued.id])
        this.pump(member)
      })
      return
    }
    // The packet identifier is chosen here (as aedes would) to recognise the acknowledgement.
    const messageId = client._nextId
    client._nextId = messageId >= PACKET_ID_MAX ? 1 : messageId + 1
    packet.messageId = messageId
    member.inflight.set(messageId, queued)
    this.#deps.track(member.client, messageId, member)
    client.deliverQoS(packet, () => {})
  }
}
