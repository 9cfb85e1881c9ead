import type { ShareFilter } from './parse.js'

/** What a group keeps of a published message. */
export interface ShareMessage {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: 0 | 1 | 2
  readonly retain: boolean
  /** MQTT 5 properties of the PUBLISH (no Topic Alias, no Subscription Identifier). */
  readonly properties?: Readonly<Record<string, unknown>>
  /** Absolute Message Expiry (ms since epoch), when the publisher set an expiry interval. */
  readonly messageExpiry?: number
  /** When the group queue took it (ms since epoch): `share.maxAgeMs` counts from here. */
  readonly enqueuedAt: number
}

/** A message taken from a group's queue for one member; `id` acknowledges it. */
export interface QueuedMessage {
  readonly id: string
  readonly message: ShareMessage
  /** 1 for a first delivery; more once it went to a member that was lost before acknowledging it. */
  deliveries: number
}

/** A read waiting for messages; `cancel` ends it with whatever it had (nothing, usually). */
export interface PendingRead {
  readonly result: Promise<QueuedMessage[]>
  cancel (): void
}

/** One group's queue as seen by this pod while it has members of the group. */
export interface GroupQueue {
  readonly share: ShareFilter
  /**
   * Up to `count` messages for one member. Readers waiting at once are served in the order
   * they started waiting, cluster-wide, so members take turns (round-robin) whatever pod they
   * are on.
   */
  read (count: number): PendingRead
  /** Delivered and acknowledged (QoS 1/2) or sent (QoS 0): gone from the queue. */
  ack (ids: readonly string[]): void
  /** Taken for a member that left before acknowledging them: back to the group, for another member. */
  release (messages: readonly QueuedMessage[]): void
  /** This pod's last member of the group left. */
  close (): void
}

/** Where group queues live: this process (embedded mode) or Redis Streams (cluster mode). */
export interface QueueBackend {
  /** This pod has a member of the group: creates the group (and its queue) if new. */
  join (share: ShareFilter): Promise<GroupQueue>
  /** Groups that exist (cluster-wide): a published message goes to every one whose filter matches. */
  groups (): readonly ShareFilter[]
  /** Puts the message once into each group's queue; resolves once it is stored. */
  enqueue (shares: readonly ShareFilter[], message: ShareMessage): Promise<void>
  /** Periodic work: trim by length and age, reclaim abandoned messages, refresh metrics. */
  sweep (): Promise<void>
  close (): Promise<void>
}
