import { Aedes, type AedesOptions, type Client, type PublishPacket, type Subscription } from 'aedes'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from '../metrics/registry.js'
import { StaticAcl } from './acl.js'
import { composeAuthenticate, enforceClientIdPolicy, enforceMaxConnections, refuseWhenDraining, type ClientIdOwners, type NodeState } from './connect-guard.js'
import { observeBroker } from './observe.js'
import { isSharedTopic, parseShare, type SharedGroups } from '../groups/index.js'
import { countPublishSent, observeOutbound } from './outbound.js'
import { queueFullReporter, withQueueLimit } from './queue-limit.js'
import { authenticateBrokerClient, clientIdentity, type EndpointBroker } from '../auth/connect-auth.js'
import { FAILURE_THROTTLE_DEFAULTS, FailureThrottle } from '../auth/failure-throttle.js'
import { allowsPublish, allowsSubscribe } from '../auth/token-acl.js'
import { trackTokenSessions } from '../auth/token-sessions.js'
import type { BrokerRecord, TenancyStore, TokenAuthority } from '../tenancy/types.js'

export interface BrokerDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  readonly state: NodeState
  /** aedes persistence; the embedded default is aedes' in-memory one. */
  readonly persistence?: AedesOptions['persistence']
  /** aedes emitter (mqemitter); the embedded default is aedes' in-memory one. */
  readonly mq?: AedesOptions['mq']
  /** Cluster mode: which other pod holds a client id (`clientIdConflict: reject`); set once known. */
  readonly clientIdOwners?: () => ClientIdOwners | undefined
  /** Shared subscriptions (`$share/<group>/<filter>`); without it they are refused. */
  readonly groups?: SharedGroups
  /** Tenancy and tokens (src/tenancy/identity.ts): brokers' auth types on CONNECT; without it every CONNECT is anonymous. */
  readonly identity?: { readonly tenancy: TenancyStore, readonly tokens: TokenAuthority, readonly defaultBroker: () => Promise<BrokerRecord> }
  /** The broker a connection's endpoint (TLS SNI, WebSocket Host) selects, when it selects one. */
  readonly endpointBroker?: EndpointBroker
}

/** aedes fields that its type declarations leave out. */
export interface BrokerInternals {
  readonly clients: Readonly<Record<string, Client>>
  readonly connectedClients: number
}

/** Builds the aedes core for one pod and composes Starling's hooks around it. */
export async function createBroker (deps: BrokerDeps): Promise<Aedes> {
  const { config, logger, metrics, state } = deps
  const limits = config.limits
  const acl = new StaticAcl(config.acl)

  const broker = new Aedes({
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
    onPublishSent: countPublishSent(metrics.messagesSent),
    // A durable persistence (Redis): QoS 1 PUBACK only after the message is stored and emitted,
    // so a Redis failure never acknowledges a message it lost (our aedes patch).
    pubackAfterPublish: deps.persistence !== undefined,
    outboundQueueLimit: limits.maxQueuedMessages,
    sessionExpiryIntervalLimit: limits.maxSessionExpirySeconds,
    // MQTT 3.1 (not 3.1.1) caps client ids at 23 characters; 3.1.1 and 5 servers may accept more.
    maxClientsIdLength: 23,
    // Shared subscriptions (src/groups): aedes hands `$share/...` subscriptions to the groups
    // and reports acknowledgements of the messages they send (our aedes patch) [MQTT-4.8.2].
    ...(deps.groups !== undefined ? { sharedSubscriptions: deps.groups.hooks, onPublishAcked: deps.groups.onAck } : {})
  } as AedesOptions)
  const groups = deps.groups
  if (groups !== undefined) {
    groups.attach(broker)
    // Runs before the publisher's PUBACK (aedes' publish chain): an acknowledged message is in
    // every matching group's queue.
    broker.published = (packet, _client, done) => groups.published(packet, done as (err?: Error) => void)
  }

  const view = broker as unknown as BrokerInternals
  const identity = deps.identity
  if (identity !== undefined) {
    const sessions = trackTokenSessions(broker, { tenancy: identity.tenancy, tokens: identity.tokens, logger, clockToleranceSeconds: config.auth.clockToleranceSeconds })
    broker.once('closed', () => sessions.stop())
  }
  broker.authenticate = composeAuthenticate([
    refuseWhenDraining(state),
    // Before the id-based steps: a token decides the client id.
    ...(identity !== undefined
      ? [authenticateBrokerClient({
          tenancy: identity.tenancy,
          tokens: identity.tokens,
          defaultBroker: identity.defaultBroker,
          endpointBroker: deps.endpointBroker,
          throttle: new FailureThrottle({ ...FAILURE_THROTTLE_DEFAULTS, maxDelayMs: config.auth.failureDelayMaxMs })
        })]
      : []),
    enforceMaxConnections(view, limits.maxConnections),
    enforceClientIdPolicy(view, config.clientIdConflict, deps.clientIdOwners)
  ], metrics, logger) as unknown as Aedes['authenticate']

  broker.authorizePublish = function authorizePublish (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    // Topics starting with `$` are the server's (MQTT §4.7.2); clients may not publish into $SYS.
    // `$share/...` names subscriptions, never a topic: a message published to it would reach
    // offline members as if through an ordinary subscription [MQTT-4.8.2].
    if (packet.topic.startsWith('$SYS/') || packet.topic === '$SYS' || isSharedTopic(packet.topic)) {
      metrics.messagesDropped.inc({ reason: 'acl' })
      callback(new Error('publishing to $SYS or $share/ is not allowed'))
      return
    }
    if (!acl.empty && !acl.allows('publish', packet.topic)) {
      metrics.messagesDropped.inc({ reason: 'acl' })
      logger.debug({ clientId: client?.id, topic: packet.topic }, 'publish denied by acl')
      callback(new Error('publish to this topic is not allowed'))
      return
    }
    // The token's own topic ACL (also for the client's will, which aedes authorizes here).
    if (!allowsPublish(clientIdentity(client)?.token?.topicAcl, packet.topic)) {
      metrics.messagesDropped.inc({ reason: 'acl' })
      logger.debug({ clientId: client?.id, topic: packet.topic }, 'publish denied by token acl')
      callback(new Error('publish to this topic is not allowed'))
      return
    }
    callback(null)
  }

  broker.authorizeSubscribe = function authorizeSubscribe (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void): void {
    // A shared subscription is authorized on its inner filter; without the groups a 3.1.1
    // `$share/...` must not silently become a subscription to a literal topic nobody publishes to.
    const share = isSharedTopic(sub.topic) ? parseShare(sub.topic) : undefined
    const filter = share?.filter ?? sub.topic
    if ((isSharedTopic(sub.topic) && (groups === undefined || share === undefined)) || (!acl.empty && !acl.allows('subscribe', filter)) ||
        !allowsSubscribe(clientIdentity(client)?.token?.topicAcl, filter)) {
      logger.debug({ clientId: client.id, filter: sub.topic }, 'subscribe denied')
      callback(null, null)
      return
    }
    callback(null, sub)
  }

  observeBroker(broker, metrics, logger)
  observeOutbound(broker, metrics)
  await broker.listen()
  // aedes sets up its persistence (ours or its in-memory default) in listen(); wrap whichever it is.
  const internals = broker as unknown as { persistence: object }
  internals.persistence = withQueueLimit(internals.persistence, {
    maxQueued: limits.maxQueuedMessages,
    onDrop: queueFullReporter(metrics.messagesDropped, logger, limits.maxQueuedMessages)
  })
  return broker
}
