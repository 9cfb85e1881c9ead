import type { Duplex, Readable } from 'node:stream'
import * as aedesModule from 'aedes'
import type { AedesOptions, AedesPublishPacket, ConnackPacket, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import { StarlingError } from '../errors.js'

/**
 * The one boundary between Starling and its MQTT engine, aedes 2.0.0-beta.1 with our patch
 * (patches/aedes+2.0.0-beta.1.patch, README "Our patches to aedes"). Every extension point
 * Starling uses is declared here, typed: the constructor options (aedes' and the patched ones),
 * the hooks, the events, the broker fields read and the persistence calls. The rest of Starling
 * reaches aedes only through these types and `createEngine`; nothing replaces aedes' methods or
 * timers from outside — a new need is a new hook in the patch, declared here.
 */

/**
 * Revision of our patch this code expects (`starlingPatch` exported by the patched aedes.js).
 * Bump both together when a hook below changes.
 */
export const ENGINE_PATCH = 10

export type { PublishPacket, Subscription, AedesPublishPacket, ConnackPacket, ConnectPacket }

/** One subscription as a connection holds it (`client.subscriptions[filter]`). */
export interface ClientSubscription {
  readonly qos: number
  /** Retain As Published [MQTT-3.3.1-12] */
  readonly rap?: boolean
  /** No Local [MQTT-3.8.3-3] */
  readonly nl?: boolean
  /** Subscription Identifier [MQTT-3.8.2.1.2] */
  readonly si?: number
}

/** A client connection: aedes' declared fields, plus those its declarations leave out that Starling uses. */
export interface Client extends aedesModule.Client {
  readonly subscriptions: Readonly<Record<string, ClientSubscription | undefined>>
  /** Our patch: number of subscriptions (kept for the overlap merge). */
  readonly _subCount?: number
  /** Our patch: the tenant's topic-space mount, '' for the default broker (set with the tenant-scoped `id`, src/tenancy/context.ts). */
  _mount?: string
  /** Set by aedes when the CONNECT had an empty client id: the id it generated, sent back in a v5 CONNACK. */
  _assignedClientId?: string | undefined
  /**
   * Our patch: whether a session exists for this client id, when a CONNECT step asked the
   * persistence already (the session quota); aedes' fetchSubs then does not ask again.
   */
  _sessionKnown?: boolean
  /** Our patch: the session's stored subscriptions, when a CONNECT step read them already (the session quota); fetchSubs then uses them. */
  _sessionSubs?: readonly unknown[] | undefined
  /** The will of the CONNECT being handled (set before the authenticate hook runs). */
  readonly _will?: { readonly topic: string, readonly payload: Buffer | string } | null
  /** The client sent DISCONNECT (aedes lib/handlers/index.js; not with MQTT 5 reason 0x04). */
  readonly _disconnected?: boolean
  /**
   * Server-initiated disconnect (v5: DISCONNECT with `reasonCode`). Our patch: `keepWill` neither
   * publishes nor deletes the will (a restart of the connection, src/cluster/resync.ts).
   */
  disconnect (opts?: { reasonCode?: number, properties?: Record<string, unknown>, keepWill?: boolean }, done?: () => void): void
  disconnect (done: () => void): void
  /** Next packet identifier for a PUBLISH to this client (used by the shared groups' deliveries). */
  _nextId: number
  /** Sends a QoS 1/2 PUBLISH through aedes' outbound path (Receive Maximum window, aliases, size). */
  deliverQoS (packet: object, done: (err?: Error) => void): void
  /** The broker's delivery check (the ACL's read rules), for deliveries Starling makes itself (shared groups). */
  readonly broker: { authorizeForward (client: Client, packet: { readonly topic: string }): object | null | undefined }
}

/** Throws STARLING_ERR_ENGINE_UNPATCHED unless `engineModule` (the `aedes` module) carries our patch. */
export function assertEnginePatched (engineModule: object): void {
  const revision = (engineModule as { starlingPatch?: unknown }).starlingPatch
  if (revision !== ENGINE_PATCH) {
    throw new StarlingError('STARLING_ERR_ENGINE_UNPATCHED', [revision === undefined ? 'none' : String(revision), ENGINE_PATCH])
  }
}

// ---- hooks (aedes' own, typed as Starling uses them) ----

/** A refusal may carry its MQTT 5 CONNACK reason code and its 3.1.1 return code (our patch). */
export type AuthenticateError = Error & { readonly returnCode?: number, readonly reasonCode?: number }
export type AuthenticateHook = (client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok?: boolean | null) => void) => void
export type PreConnectHook = (client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) => void
/**
 * A PUBLISH refusal's `reasonCode` (our patch): ≥ 0x80 answers the MQTT 5 PUBACK/PUBREC with it
 * (default 0x87); below 0x80 (a success code) the message is acknowledged as accepted and not
 * published (an on-publish hook kept it from subscribers). QoS 0 is dropped either way.
 */
export type PublishRefusal = Error & { readonly reasonCode?: number }
export type AuthorizePublishHook = (client: Client | null, packet: PublishPacket, done: (err?: PublishRefusal | null) => void) => void
/**
 * Our patch: a refusal with a `reasonCode` refuses only that entry, with that SUBACK code in v5
 * (0x80 in 3.1.1), and keeps the connection; `(null, null)` is 0x87 Not authorized.
 */
export type AuthorizeSubscribeHook = (client: Client, sub: Subscription, done: (err: (Error & { readonly reasonCode?: number }) | null, sub?: Subscription | null) => void) => void
/** Per delivery: the packet to send to `client`, or null/undefined to not deliver it. */
export type AuthorizeForwardHook = (client: Client, packet: AedesPublishPacket) => AedesPublishPacket | null | undefined
/** Runs before the publisher's acknowledgement. */
export type PublishedHook = (packet: AedesPublishPacket, client: Client | null, done: (err?: Error | null) => void) => void

// ---- hooks our patch adds ----

/** `$share/<group>/<filter>` subscriptions, served by Starling's groups (src/groups) [MQTT-4.8.2]. */
export interface SharedSubscriptionHooks {
  validFilter (topic: string): boolean
  subscribe (client: Client, topic: string, qos: number, subscriptionIdentifier: number | undefined, done: (err?: Error | null) => void): void
  unsubscribe (client: Client, topic: string, done: (err?: Error | null) => void): void
}

/**
 * Wills across the cluster (src/cluster/wills.ts). With these set, aedes' own sweep of dead
 * brokers' wills stays idle, `publish` replaces aedes' publication of a will (authorize, publish,
 * delete), and the Will Delay Interval timer aedes keeps is mirrored through `scheduled` and
 * `cancelled` [MQTT-3.1.2-8] [MQTT-3.1.3-9].
 */
export interface WillHooks {
  /** A will is due on this broker (connection lost, or its delay passed): `will` has no Will Delay Interval property. */
  publish (client: Client, will: PublishPacket): void
  /** A will waits `delaySeconds` (also while the broker closes; never during a takeover). */
  scheduled (client: Client, will: PublishPacket, delaySeconds: number): void
  /**
   * The client connected again: its delayed will is cancelled. Our patch calls it at a CONNECT
   * only when a will could still be published under this broker's record (this broker kept a
   * timer for the id, or the new connection stores a will): the CONNECT deleted the stored one.
   */
  cancelled (clientId: string): void
  /** Closing waits for this before the emitter closes (wills of the clients just closed). */
  drained (): Promise<void>
}

/** MQTT 5 Session Expiry across the cluster (src/cluster/session-expiry.ts); replaces aedes' timers. */
export interface SessionExpiryHooks {
  /** A session's connection ended (MQTT 5, or 3.1.1 with Clean Session 0; not a takeover, also while closing): true ends the session now. */
  disconnected (client: Client): boolean
  /** The client id connected on this broker: any deadline of its session is void. */
  reconnected (clientId: string): void
}

// ---- the persistence aedes calls and Starling calls too ----

/** A will as the persistence stores it: the will PUBLISH (with its CONNECT properties), its client and broker. */
export type StoredWill = PublishPacket & {
  readonly clientId: string
  readonly brokerId: string
  readonly properties?: PublishPacket['properties'] & { willDelayInterval?: number }
}

/** A message in a session's outgoing queue, as the persistence stores it. */
export interface QueuedPacket {
  readonly brokerId?: string
  readonly brokerCounter?: number
  readonly qos?: number
  readonly messageId?: number
  readonly topic?: string
  [key: string]: unknown
}

/** A persisted subscription, as aedes hands it to the outgoing queue calls. */
export interface QueueSub { readonly clientId: string, readonly qos?: number, readonly topic?: string }

/** The outgoing-queue calls aedes makes on its persistence (wrapped by src/broker/queue-limit.ts). */
export interface OutgoingPersistence {
  outgoingEnqueue (sub: QueueSub, packet: QueuedPacket): Promise<void>
  outgoingEnqueueCombi (subs: readonly QueueSub[], packet: QueuedPacket): Promise<void>
  outgoingUpdate (client: { id: string }, packet: QueuedPacket): Promise<void>
  outgoingClearMessageId (client: { id: string }, packet: QueuedPacket): Promise<QueuedPacket | undefined>
  outgoingStream (client: { id: string }): Readable
  /** Starling's Redis persistence: the session's queue length in one call (LLEN). */
  outgoingQueueLength? (client: { id: string }): Promise<number>
  /** Starling's Redis persistence: outgoingStream would yield nothing for this connection (our aedes patch skips reading it). */
  outgoingKnownEmpty? (client: { clean?: boolean, _cleanStart?: boolean }): boolean
  /** Starling's Redis persistence: the queue to replay at CONNECT, null when empty (our aedes patch then builds no stream pipeline). */
  outgoingReplayStream? (client: { id: string, clean?: boolean, _cleanStart?: boolean }): Promise<Readable | null>
}

/** The aedes persistence calls Starling makes or wraps (aedes 2: promise forms). */
export interface EnginePersistence extends OutgoingPersistence {
  /** Removes a client's stored will; resolves to it, or null/undefined when there was none. */
  delWill (client: { id: string, brokerId?: string }): Promise<StoredWill | null | undefined>
  /** The stored wills of the brokers not listed in `brokers`. */
  streamWill (brokers?: Record<string, number>): AsyncIterable<StoredWill>
  cleanSubscriptions (client: { id: string }): Promise<unknown>
  /** Closes the persistence's connections (Redis); absent in the in-memory one. */
  destroy? (): Promise<void>
  /** Starling's Redis persistence: retained messages stored, cluster-wide (one HLEN / ZCARD). */
  retainedCount? (): Promise<number>
  /** Starling's Redis persistence: payload bytes of the retained messages, cluster-wide (one GET). */
  retainedBytes? (): Promise<number>
  /** Starling's Redis persistence: sessions that outlive their connection, cluster-wide (one SCARD). */
  sessionCount? (): Promise<number>
  /** Does a session that outlives its connection exist for this client id? (our aedes-persistence patch) */
  hasSession? (client: { id: string }): Promise<boolean>
  /** Starling's Redis persistence: the stored subscriptions and whether the session exists, its record asked only when it has none. */
  sessionState? (client: { id: string }): Promise<{ readonly known: boolean, readonly subs: readonly unknown[] }>
  /** The stored subscriptions (persistent sessions, online or not) whose filter matches `topic`. */
  subscriptionsByTopic? (topic: string): Promise<readonly unknown[]>
}

/** What aedes needs of an emitter (mqemitter's interface); Starling passes its Redis one in cluster mode. */
export interface EngineEmitter {
  on (topic: string, listener: (packet: { topic: string, payload: Buffer | string }, done: () => void) => void, done?: () => void): unknown
  removeListener (topic: string, listener: (...args: never[]) => void, done?: () => void): unknown
  emit (packet: object, done?: (err?: Error) => void): unknown
  close (done: () => void): void
  /**
   * Starling's cluster emitter: whether a message on `topic` may reach a listener, here or on
   * another pod (false only when none can: src/cluster/emitter.ts).
   */
  listened? (topic: string): boolean
  /** mqemitter's Qlobber (the embedded emitter): its local listeners' filters. */
  readonly _matcher?: { match (topic: string): readonly unknown[] }
}

// ---- options ----

/** Why aedes' outbound path (lib/outbound.js) discarded a PUBLISH for one client. */
export type OutboundDropReason = 'packet_too_large' | 'queue_full' | 'expired' | 'slow_reader'

export interface EngineOptions extends Omit<AedesOptions, 'persistence' | 'mq' | 'authenticate' | 'authorizeForward' | 'published'> {
  readonly persistence?: object
  readonly mq?: object
  readonly authenticate?: AuthenticateHook
  readonly authorizeForward?: AuthorizeForwardHook
  readonly published?: PublishedHook
  /** Our patch: called for every PUBLISH written to a client (metrics; hot path). */
  readonly onPublishSent?: (client: Client, packet: { readonly qos: number, readonly payload?: { readonly length: number } | null }) => void
  /**
   * Our patch: a QoS 1/2 PUBLISH to a client was acknowledged (PUBACK / PUBCOMP / a failed
   * PUBREC), or, with `stage` 'pubrec', a QoS 2 one was received (successful PUBREC): answer
   * true when the id is a shared-subscription message, whose PUBREL aedes then does not persist.
   */
  readonly onPublishAcked?: (client: Client, messageId: number, stage?: 'pubrec') => boolean | void
  /** Our patch: QoS 1 PUBACK only once the message is stored and emitted [MQTT-4.3.2-3]. */
  readonly pubackAfterPublish?: boolean
  /** Our patch: QoS 1/2 messages that may wait for a client's Receive Maximum window; 0 = unbounded. */
  readonly outboundQueueLimit?: number
  /**
   * Our patch (lib/outbound.js): bytes a client's socket may buffer; beyond it QoS 0 PUBLISH to
   * it are dropped ('publishDropped', `slow_reader`). 0 = unbounded.
   */
  readonly outboundBufferLimit?: number
  /** Our patch: a client over outboundBufferLimit this long (ms) is disconnected ('slowReader'; v5 0x97). */
  readonly slowReaderTimeout?: number
  /** Our patch (lib/handlers/subscribe.js): retained messages sent for one SUBSCRIBE ('retainedCapped' beyond). 0 = unbounded. */
  readonly retainedPerSubscribeLimit?: number
  readonly sharedSubscriptions?: SharedSubscriptionHooks
  /** Our patch: stamp `publishedAt` on each message in publish() (delivery latency metric). */
  readonly stampPublish?: boolean
  /** Our patch: wraps the persistence once listen() has set it up. */
  readonly wrapPersistence?: (persistence: EnginePersistence) => EnginePersistence
  readonly wills?: WillHooks
  readonly sessionExpiry?: SessionExpiryHooks
}

/** Where a store failure hit a client ('persistenceError'). */
export type PersistenceErrorStep = 'session' | 'retained' | 'subscribe'

// ---- the broker ----

type Listener<A extends unknown[]> = (...args: A) => void

/** The aedes broker as Starling sees it: the fields it reads, the methods it calls, the hooks it sets, the events it hears. */
export interface Engine {
  readonly id: string
  readonly closed: boolean
  readonly connectedClients: number
  readonly clients: Readonly<Record<string, Client>>
  /** Set up by listen(): the one given (wrapped by `wrapPersistence`), or aedes' in-memory one. */
  readonly persistence: EnginePersistence
  readonly mq: EngineEmitter
  /** Client ids whose connection is being closed by a takeover, local or from another pod (read by src/events). */
  readonly _takingOver?: ReadonlySet<string>

  authenticate: AuthenticateHook
  preConnect: PreConnectHook
  authorizePublish: AuthorizePublishHook
  authorizeSubscribe: AuthorizeSubscribeHook
  authorizeForward: AuthorizeForwardHook
  published: PublishedHook
  /** Set once the cluster services exist (after listen()). */
  wills: WillHooks | null
  sessionExpiry: SessionExpiryHooks | null

  listen (): Promise<void>
  /** A new connection; `origin` becomes `client.req` (see originOf in observe.ts). */
  handle (stream: Duplex, origin?: object): Client
  publish (packet: PublishPacket, client: Client | null, done: (err?: Error | null) => void): void
  close (done?: () => void): void

  on (event: 'client' | 'clientReady' | 'clientDisconnect' | 'keepaliveTimeout', listener: Listener<[Client]>): this
  on (event: 'clientError' | 'connectionError', listener: Listener<[Client, Error]>): this
  on (event: 'publish', listener: Listener<[AedesPublishPacket, Client | null]>): this
  /** After a SUBSCRIBE is handled: its entries (topics mounted, `qos` 128 when refused). */
  on (event: 'subscribe', listener: Listener<[ReadonlyArray<{ readonly topic: string, readonly qos: number }>, Client]>): this
  /** After an UNSUBSCRIBE is handled: its filters (mounted). */
  on (event: 'unsubscribe', listener: Listener<[readonly string[], Client]>): this
  /** Our patch: `refusedByAuthenticate` says the authenticate hook refused (not aedes itself). */
  on (event: 'connackSent', listener: Listener<[ConnackPacket & { reasonCode?: number, returnCode?: number }, Client, boolean]>): this
  /** Our patch: a PUBLISH aedes discarded for one client. */
  on (event: 'publishDropped', listener: Listener<[{ messageId?: number }, Client, OutboundDropReason]>): this
  /**
   * Our patch: a store read or write failed for this client, which was refused (CONNACK 0x88 / 3,
   * `session` before the CONNACK), disconnected (DISCONNECT 0x80 in v5: `session` for the
   * offline-queue replay, `retained` for the retained lookup of a SUBSCRIBE), or refused one
   * SUBSCRIBE entry (SUBACK 0x80: `subscribe`, storing it or joining its shared group failed).
   */
  on (event: 'persistenceError', listener: Listener<[Client, Error, PersistenceErrorStep]>): this
  /** Our patch: a client stayed over outboundBufferLimit for slowReaderTimeout and is being disconnected. */
  on (event: 'slowReader', listener: Listener<[Client]>): this
  /** Our patch: a SUBSCRIBE matched more retained messages than retainedPerSubscribeLimit; the rest were left out. */
  on (event: 'retainedCapped', listener: Listener<[Client, number]>): this
  on (event: 'error', listener: Listener<[Error]>): this
  once (event: 'closed', listener: Listener<[]>): this
}

/** A new aedes broker (not listening yet), after checking that it carries our patch. */
export function createEngine (options: EngineOptions): Engine {
  assertEnginePatched(aedesModule)
  // The one cast of the boundary: aedes' declarations know neither our patch nor these narrower types.
  return new aedesModule.Aedes(options as AedesOptions) as unknown as Engine
}
