import { createEngine, type AedesPublishPacket, type Client, type Engine, type EngineOptions, type PublishPacket, type Subscription } from './engine.js'
import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from '../metrics/registry.js'
import { authorizeWill, ClientAcls, type ClientAclInputs } from './acl.js'
import { composeAuthenticate, enforceClientIdPolicy, enforceMaxConnections, refuseWhenDraining, type ClientIdOwners, type NodeState } from './connect-guard.js'
import { observeBroker } from './observe.js'
import { observeStoreFaults } from './faults.js'
import { isSharedTopic, parseShare, type SharedGroups } from '../groups/index.js'
import { countPublishSent, observeOutbound } from './outbound.js'
import { queueFullReporter, withQueueLimit } from './queue-limit.js'
import { tenantStep } from '../tenancy/context.js'
import { endpointOf, type FindBroker } from '../tenancy/select.js'
import { unmountTopic } from '../tenancy/mount.js'
import type { QuotaHooks } from '../quotas/steps.js'
import type { OnPublishHooks } from '../hooks/on-publish.js'
import { isTriggerTopic } from '../events/index.js'
import { authenticateBrokerClient, clientIdentity, type EndpointBroker } from '../auth/connect-auth.js'
import { FAILURE_THROTTLE_DEFAULTS, FailureThrottle } from '../auth/failure-throttle.js'
import { trackTokenSessions } from '../auth/token-sessions.js'
import { originOf } from './observe.js'
import type { BrokerRecord, TenancyStore, TokenAuthority } from '../tenancy/types.js'
import { ClientLimits } from './limits.js'
import { payloadBytes, persistenceRetainedBytes, persistenceRetainedCount, persistenceSessionCount, RetainedQuota } from './retained-quota.js'
import { enforceMaxPersistentSessions, SessionQuota } from './session-quota.js'

export interface BrokerDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  readonly state: NodeState
  /** aedes persistence; the embedded default is aedes' in-memory one. */
  readonly persistence?: object
  /** aedes emitter (mqemitter); the embedded default is aedes' in-memory one. */
  readonly mq?: object
  /** Cluster mode: which other pod holds a client id (`clientIdConflict: reject`); set once known. */
  readonly clientIdOwners?: () => ClientIdOwners | undefined
  /** Shared subscriptions (`$share/<group>/<filter>`); without it they are refused. */
  readonly groups?: SharedGroups
  /**
   * Tenancy and tokens (src/tenancy/identity.ts): the broker of each connection (its endpoint, its
   * token, or the default broker), its auth type on CONNECT, its topic space; without it every
   * CONNECT is the default broker's and anonymous.
   */
  readonly identity?: { readonly tenancy: TenancyStore, readonly tokens: TokenAuthority, readonly defaultBroker: () => Promise<BrokerRecord> }
  /** Per-broker quotas (src/quotas, `quotaSteps`): last CONNECT step, PUBLISH check after the ACL, deliveries counted. */
  readonly quotas?: QuotaHooks
  /** On-publish hooks (src/hooks, `createOnPublishHooks`): the last PUBLISH check, after the quotas. */
  readonly onPublish?: OnPublishHooks
  /** Sockets accepted before this client's and still without CONNECT, at most `cap` (src/listeners/socket-budget.ts). */
  readonly halfOpenBefore?: (client: Client, cap: number) => number
}

type PublishSent = NonNullable<EngineOptions['onPublishSent']>

/** The sent-PUBLISH metric, and each broker's usage "messages out" when quotas are wired. */
function withQuotaUsage (count: PublishSent, quotas: QuotaHooks | undefined): PublishSent {
  if (quotas === undefined) return count
  return (client, packet) => { count(client, packet); quotas.publishSent(client, packet) }
}

/** How often the retained message count is re-read for limits.maxRetainedMessages, in milliseconds. */
const RETAINED_COUNT_REFRESH_MS = 1000

/** Builds the aedes core for one pod and composes Starling's hooks around it. */
export async function createBroker (deps: BrokerDeps): Promise<Engine> {
  const { config, logger, metrics, state } = deps
  const limits = config.limits
  // Each client's rules: the config file's, intersected with its token's topic ACL (TOKEN and
  // JWKS brokers: filters it may publish to and subscribe within).
  const acls = new ClientAcls(config.acl, deps.identity === undefined ? undefined : tokenAclOf)
  const deniedAtDelivery = metrics.messagesDropped.labels('acl')
  // Fixed for the broker's life; read per PUBLISH.
  const aclRestricts = acls.restricts
  // The config file's rules alone, which every client's ACL includes (judged on the client's own
  // topic, without its tenant mount, as its PUBLISH and SUBSCRIBE are).
  const sharedAcl = acls.resolve()
  // Not counted as a drop: a connected persistent session is queued the message too and counts
  // it when its delivery is refused; an offline one simply never gets it.
  const readableByEveryone = (_clientId: string, packet: { readonly topic?: string }): boolean => {
    const topic = packet.topic ?? ''
    return sharedAcl.mayRead(unmountTopic(topic))
  }

  // Throws STARLING_ERR_ENGINE_UNPATCHED on an aedes without our patch.
  const broker = createEngine({
    id: config.nodeId,
    ...(deps.persistence !== undefined ? { persistence: deps.persistence } : {}),
    ...(deps.mq !== undefined ? { mq: deps.mq } : {}),
    // No cap on messages in delivery at once in aedes' default mqemitter (its default, 100, queues
    // the rest and drains the queue one release at a time, recursively: a 100-publisher QoS 0 burst
    // fell from ~36k to ~6k msg/s and once overflowed the stack). Input stays bounded: aedes reads
    // a connection's next chunk only after every PUBLISH of the previous one was delivered.
    concurrency: 0,
    // Cluster mode: pods heartbeat on $SYS/<id>/heartbeat; a survivor publishes the wills of a pod
    // silent for 3 intervals (sweeping every 4).
    heartbeatInterval: config.cluster.heartbeatMs,
    connectTimeout: limits.connectTimeoutMs,
    keepaliveLimit: limits.maxKeepAlive,
    maximumPacketSize: limits.maxPacketSize,
    receiveMaximum: limits.receiveMaximum,
    topicAliasMaximum: limits.topicAliasMaximum,
    // Outbound path (aedes lib/outbound.js): sent-PUBLISH metric, bound on messages waiting for a
    // client's Receive Maximum window.
    onPublishSent: withQuotaUsage(countPublishSent(metrics.messagesSent), deps.quotas),
    // A durable persistence (Redis): QoS 1 PUBACK only after the message is stored and emitted,
    // so a Redis failure never acknowledges a message it lost (our aedes patch).
    pubackAfterPublish: deps.persistence !== undefined,
    outboundQueueLimit: limits.maxQueuedMessages,
    // Slow readers (our aedes patch, lib/outbound.js): QoS 0 beyond the socket's buffer bound is
    // dropped for that client; one that stays over it is disconnected (0x97).
    outboundBufferLimit: limits.maxOutboundBufferBytes,
    slowReaderTimeout: limits.slowReaderTimeoutMs,
    retainedPerSubscribeLimit: limits.maxRetainedPerSubscription,
    sessionExpiryIntervalLimit: limits.maxSessionExpirySeconds,
    // MQTT 3.1 (not 3.1.1) caps client ids at 23 characters; 3.1.1 and 5 servers may accept more.
    maxClientsIdLength: 23,
    // Shared subscriptions (src/groups): aedes hands `$share/...` subscriptions to the groups
    // and reports acknowledgements of the messages they send (our aedes patch) [MQTT-4.8.2].
    ...(deps.groups !== undefined ? { sharedSubscriptions: deps.groups.hooks, onPublishAcked: deps.groups.onAck } : {}),
    // Each message's `publishedAt`, for starling_delivery_latency_seconds (measured when the copy
    // is written to a subscriber).
    stampPublish: true,
    // aedes sets up its persistence (ours or its in-memory default) in listen(); wrap whichever it is.
    wrapPersistence: (persistence) => withQueueLimit(persistence, {
      maxQueued: limits.maxQueuedMessages,
      onDrop: queueFullReporter(metrics.messagesDropped, logger, limits.maxQueuedMessages),
      // An offline session is not queued what the config file's rules (every client's) deny it;
      // its own rules (tenant broker, token) are known only while it is connected.
      ...(config.acl.length > 0 ? { readable: readableByEveryone } : {})
    })
  })
  const groups = deps.groups
  /** Set once listen() has set up the persistence that counts the retained messages. */
  let retainedQuota: RetainedQuota | undefined
  let retainedBytesQuota: RetainedQuota | undefined
  let sessionQuota: SessionQuota | undefined
  const clientLimits = new ClientLimits({ limits, share: config.share, metrics, groups })
  broker.on('slowReader', (client) => {
    clientLimits.hit('slow_reader_disconnect')
    logger.info({ clientId: client.id, maxOutboundBufferBytes: limits.maxOutboundBufferBytes }, 'slow reader disconnected')
  })
  broker.on('publishDropped', (_packet, _client, reason) => { if (reason === 'slow_reader') clientLimits.hit('slow_reader_drop') })
  broker.on('retainedCapped', () => { clientLimits.hit('retained_per_subscription') })
  // Messages received from clients, counted in aedes' `published` hook: it runs for every message
  // published, with the 'publish' event's arguments, and a listener of that event would cost an
  // emit() per message (src/metrics/publish.ts: plain array slots, folded in when read).
  const countReceived = metrics.publishReceived
  if (groups !== undefined) {
    groups.attach(broker)
    // Runs before the publisher's PUBACK (aedes' publish chain): an acknowledged message is in
    // every matching group's queue.
    broker.published = (packet, client, done) => {
      if (client) countReceived(client, packet) // null or undefined: the broker's own (wills, $SYS)
      groups.published(packet, done)
    }
  } else {
    broker.published = (packet, client, done) => {
      if (client) countReceived(client, packet) // null or undefined: the broker's own (wills, $SYS)
      done(null)
    }
  }

  // Topics starting with `$` are the server's (MQTT §4.7.2); clients may not publish into $SYS.
  // `$share/...` names subscriptions, never a topic: a message published to it would reach
  // offline members as if through an ordinary subscription [MQTT-4.8.2].
  // `$trigger/...` are the broker's events (src/events): no client may forge one.
  // Every one starts with `$`: an ordinary topic is answered by its first character (once per PUBLISH).
  const reservedForPublish = (topic: string): boolean => topic.charCodeAt(0) === 36 && (topic.startsWith('$SYS/') || topic === '$SYS' || isSharedTopic(topic) || isTriggerTopic(topic))

  const identity = deps.identity
  if (identity !== undefined) {
    const sessions = trackTokenSessions(broker, { tenancy: identity.tenancy, tokens: identity.tokens, logger, clockToleranceSeconds: config.auth.clockToleranceSeconds })
    broker.once('closed', () => sessions.stop())
  }
  broker.authenticate = composeAuthenticate([
    refuseWhenDraining(state),
    // Per-address and per-CONNECT limits first (connect rate, will size): the cheapest refusals.
    ...clientLimits.connectSteps(),
    // Before the id-based steps: the broker (endpoint, token, default) and its auth type; a token
    // decides the client id.
    ...(identity !== undefined
      ? [authenticateBrokerClient({
          tenancy: identity.tenancy,
          tokens: identity.tokens,
          defaultBroker: identity.defaultBroker,
          endpointBroker: endpointBrokers(identity.tenancy, config.tenancy.domain),
          throttle: new FailureThrottle({ ...FAILURE_THROTTLE_DEFAULTS, maxDelayMs: config.auth.failureDelayMaxMs })
        })]
      : []),
    // Then the broker's topic space (the steps after it see the tenant-scoped client id): src/tenancy.
    tenantStep({ findBroker: identity?.tenancy.findBroker.bind(identity.tenancy) ?? noBrokers, domain: config.tenancy.domain, chosen: (client) => clientIdentity(client)?.broker }),
    // After every step that decides the client's identity (and so its ACL), before any step that
    // takes something for it (connection slot, client id claim, quota).
    authorizeWill((client, topic) => !reservedForPublish(topic) && (!acls.restricts || acls.of(client).mayPublish(topic))),
    enforceMaxConnections(broker, limits.maxConnections, deps.halfOpenBefore, () => { clientLimits.hit('connections') }),
    enforceClientIdPolicy(broker, config.clientIdConflict, deps.clientIdOwners),
    // After the id is decided: is this a new persistent session, and is there room for it?
    enforceMaxPersistentSessions(() => sessionQuota),
    ...(deps.quotas !== undefined ? [deps.quotas.connectStep] : [])
  ], metrics, logger)

  broker.authorizePublish = function authorizePublish (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    if (reservedForPublish(packet.topic)) {
      metrics.messagesDropped.inc({ reason: 'acl' })
      callback(new StarlingError('STARLING_ERR_PUBLISH_DENIED'))
      return
    }
    if (aclRestricts && client !== null && !acls.of(client).mayPublish(packet.topic)) {
      metrics.messagesDropped.inc({ reason: 'acl' })
      logger.debug({ clientId: client?.id, topic: packet.topic }, 'publish denied by acl')
      callback(new StarlingError('STARLING_ERR_PUBLISH_DENIED'))
      return
    }
    // Topic length and levels, the client's publish rates: PUBACK/PUBREC with the refusal's code.
    const refused = clientLimits.checkPublish(client, packet)
    if (refused !== undefined) {
      callback(refused)
      return
    }
    if (retainedQuota !== undefined && !retainedQuota.fits(packet)) {
      clientLimits.hit('retained_messages')
      callback(new StarlingError('STARLING_ERR_RETAINED_LIMIT', [limits.maxRetainedMessages]))
      return
    }
    if (retainedBytesQuota !== undefined && !retainedBytesQuota.admit(packet)) {
      clientLimits.hit('retained_bytes')
      callback(new StarlingError('STARLING_ERR_RETAINED_BYTES_LIMIT', [limits.maxRetainedBytes]))
      return
    }
    retainedQuota?.take(packet)
    if (client === null) { callback(null); return }
    const hooks = deps.onPublish
    // Without a hook anywhere (and none pending) the quota step answers aedes directly: no closure per PUBLISH.
    const next = hooks === undefined || !hooks.needed() ? callback : (err?: Error | null): void => { if (err) callback(err); else hooks.authorizePublish(client, packet, callback) }
    if (deps.quotas !== undefined) { deps.quotas.authorizePublish(client, packet, next); return }
    next(null)
  }

  broker.authorizeSubscribe = function authorizeSubscribe (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    // A shared subscription is authorized on its inner filter; without the groups a 3.1.1
    // `$share/...` must not silently become a subscription to a literal topic nobody publishes to.
    const share = isSharedTopic(sub.topic) ? parseShare(sub.topic) : undefined
    const filter = share?.filter ?? sub.topic
    // Granted when the filter can match a topic the client may read; delivery checks each message.
    // Always asked: `$SYS/...` and `$trigger/...` need a grant even with no rule (src/broker/acl-policy.ts).
    if ((isSharedTopic(sub.topic) && (groups === undefined || share === undefined)) || !acls.of(client).maySubscribe(filter)) {
      logger.debug({ clientId: client.id, filter: sub.topic }, 'subscribe denied')
      callback(null, null)
      return
    }
    // Filter length and levels, group names, subscriptions and groups per client and per
    // installation: SUBACK with the refusal's code for this entry only (our aedes patch).
    const refused = clientLimits.checkSubscribe(client, sub.topic)
    if (refused !== undefined) {
      callback(refused)
      return
    }
    callback(null, sub)
  }

  // Every delivery to a client passes here (live, retained on subscribe, offline queue replay,
  // shared-group messages, wills): a topic the client may not read is never sent. Not installed
  // when no client can be refused anything, so an empty ACL costs nothing per message.
  if (acls.restricts) {
    broker.authorizeForward = function authorizeForward (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
      // The client's own topic: a tenant's rules do not name its mount.
      const acl = acls.of(client)
      if (!acl.checksDelivery || acl.mayRead(unmountTopic(packet.topic))) return packet
      deniedAtDelivery.inc()
      return null
    }
  }

  observeBroker(broker, metrics, logger)
  observeStoreFaults(broker, metrics.faults)
  observeOutbound(broker, metrics)
  deps.quotas?.attach(broker)
  await broker.listen()
  // Retained messages per installation: the persistence (set up by listen()) tells how many exist.
  if (limits.maxRetainedMessages > 0) {
    const quota = new RetainedQuota({ max: limits.maxRetainedMessages, count: persistenceRetainedCount(broker.persistence), refreshMs: RETAINED_COUNT_REFRESH_MS, logger })
    await quota.refresh()
    retainedQuota = quota
    broker.once('closed', () => { quota.stop() })
  }
  // Payload bytes of the retained messages per installation, the same way.
  if (limits.maxRetainedBytes > 0) {
    const quota = new RetainedQuota({ max: limits.maxRetainedBytes, count: persistenceRetainedBytes(broker.persistence), refreshMs: RETAINED_COUNT_REFRESH_MS, logger, name: 'retained bytes', weigh: payloadBytes })
    await quota.refresh()
    retainedBytesQuota = quota
    broker.once('closed', () => { quota.stop() })
  }
  // Persistent sessions per installation: the persistence records each one (recordSession).
  if (limits.maxPersistentSessions > 0) {
    const quota = new SessionQuota({ max: limits.maxPersistentSessions, count: persistenceSessionCount(broker.persistence), persistence: broker.persistence, refreshMs: RETAINED_COUNT_REFRESH_MS, logger, onRefused: () => { clientLimits.hit('persistent_sessions') } })
    await quota.refresh()
    sessionQuota = quota
    broker.once('closed', () => { quota.stop() })
  }
  return broker
}

/** A client's token's topic ACL, when its token has one. */
function tokenAclOf (client: Client): ClientAclInputs | undefined {
  const topicAcl = clientIdentity(client)?.token?.topicAcl
  return topicAcl === undefined ? undefined : { token: topicAcl }
}

/** An installation without a tenancy store: only the default broker exists. */
const noBrokers: FindBroker = () => undefined

/**
 * The broker a connection's endpoint name selects (TLS SNI, WebSocket Host header
 * `<broker>.<namespace>.<tenancy.domain>`); a name of a broker that does not exist is refused
 * (STARLING_ERR_TENANT_UNKNOWN, 0x87 / 5: MQTT 5 has no "no such server" code, and 0x87 tells
 * nobody whether the broker exists).
 */
function endpointBrokers (tenancy: Pick<TenancyStore, 'findBroker'>, domain: string): EndpointBroker {
  return (client) => {
    const name = endpointOf(originOf(client).serverName, domain)
    if (name === undefined) return undefined
    const broker = tenancy.findBroker(name.namespace, name.broker)
    if (broker === undefined) throw new StarlingError('STARLING_ERR_TENANT_UNKNOWN', [name.broker, name.namespace])
    return broker
  }
}
