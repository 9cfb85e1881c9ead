import type { Duplex } from 'node:stream'
import { resolveAdminTokens } from './api/bearer.js'
import { startHttpServer, type HttpServer } from './api/http.js'
import { createBroker } from './broker/create.js'
import type { Engine } from './broker/engine.js'
import { createRedisBackend, type RedisBackend } from './cluster/backend.js'
import { describeSelf, localRegistry, startRedisRegistry, type ClusterRegistry } from './cluster/member-registry.js'
import { startClusterServices, type ClusterServices } from './cluster/services.js'
import type { ConnectionOrigin, ConnectionRequest } from './broker/observe.js'
import type { StarlingConfig } from './config/schema.js'
import { StarlingError } from './errors.js'
import { startListeners } from './listeners/index.js'
import { SocketBudget, socketHardLimit } from './listeners/socket-budget.js'
import type { Listener } from './listeners/types.js'
import { createLogger, type Logger } from './logger.js'
import { createSharedGroups, type SharedGroups } from './groups/index.js'
import { redisClientObserver } from './metrics/redis-client.js'
import { createMetrics, type BrokerMetrics } from './metrics/registry.js'
import { orTimedOut, TIMED_OUT } from './util/timeout.js'
import { clientIdentity } from './auth/connect-auth.js'
import { createQuotaEngine, quotaSteps, usageSource, type QuotaEngine } from './quotas/index.js'
import { createIdentity, type Identity } from './tenancy/identity.js'
import { createOnPublishHooks, type OnPublishHooks } from './hooks/on-publish.js'
import { startTriggers, withTokenEvents, type Triggers } from './events/index.js'
import { startMqttAuthListener, type MqttAuthListener } from './mqtt-auth/index.js'

export interface NodeOptions {
  readonly logger?: Logger
  readonly metrics?: BrokerMetrics
}

/** `streams`: every connection handed to the broker and still open, so a drain can end them all. */
interface MutableState { ready: boolean, draining: boolean, readonly streams: Set<Duplex>, registry?: ClusterRegistry }

/**
 * One Starling pod: the aedes core with Starling's hooks, its MQTT listeners and its HTTP port.
 * `close()` is the graceful drain of SIGTERM and is idempotent.
 */
export class StarlingNode {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  readonly broker: Engine
  readonly listeners: readonly Listener[]
  readonly http: HttpServer
  /** Namespaces, brokers and tokens (the management API takes `tenancy` and `tokens` from here). */
  readonly identity: Identity
  /** Per-broker quotas and usage (src/quotas): Redis in cluster mode, this process otherwise. */
  readonly quotas: QuotaEngine
  readonly #state: MutableState
  /** Cluster mode's Redis emitter, persistence and connections; undefined in embedded mode. */
  readonly #backend: RedisBackend | undefined
  readonly #cluster: ClusterServices | undefined
  readonly #groups: SharedGroups | undefined
  readonly #onPublish: OnPublishHooks | undefined
  /** `$trigger` events (undefined with `triggers.enabled: false`). */
  readonly triggers: Triggers | undefined
  /** The auth-over-MQTT listener (undefined unless `mqttAuth.enabled`). */
  readonly mqttAuth: MqttAuthListener | undefined
  #closing: Promise<void> | undefined

  private constructor (parts: {
    config: StarlingConfig, logger: Logger, metrics: BrokerMetrics, broker: Engine,
    listeners: Listener[], http: HttpServer, state: MutableState, backend: RedisBackend | undefined
    identity: Identity
    quotas: QuotaEngine
    cluster?: ClusterServices | undefined
    groups?: SharedGroups | undefined
    onPublish?: OnPublishHooks | undefined
    triggers?: Triggers | undefined
    mqttAuth?: MqttAuthListener | undefined
  }) {
    this.config = parts.config
    this.logger = parts.logger
    this.metrics = parts.metrics
    this.broker = parts.broker
    this.listeners = parts.listeners
    this.http = parts.http
    this.identity = parts.identity
    this.quotas = parts.quotas
    this.#state = parts.state
    this.#backend = parts.backend
    this.#cluster = parts.cluster
    this.#groups = parts.groups
    this.#onPublish = parts.onPublish
    this.triggers = parts.triggers
    this.mqttAuth = parts.mqttAuth
  }

  static async start (config: StarlingConfig, options: NodeOptions = {}): Promise<StarlingNode> {
    const logger = options.logger ?? createLogger(config.log.level, config.nodeId)
    const metrics = options.metrics ?? createMetrics(config.nodeId)
    metrics.faults.useLogger(logger)
    const state: MutableState = { ready: false, draining: false, streams: new Set() }
    const startedAt = Date.now()
    // Cluster mode (a Redis URL, sentinels or cluster nodes): Redis emitter and persistence.
    const backend = await createRedisBackend({
      config,
      logger,
      observeRedis: redisClientObserver(metrics),
      faults: metrics.faults,
      onRetainedScanCapped: () => { metrics.limitHits.inc({ limit: 'retained_scan' }) }
    })
    let broker: Engine
    // Cluster mode: wills, session expiry, client id claims (started once the broker exists).
    let cluster: ClusterServices | undefined
    // Shared subscriptions: group queues in Redis Streams (cluster) or in this process.
    let groups: SharedGroups | undefined
    // Cluster bus messages dropped while this pod's deliveries are backed up (limits.maxPendingDeliveries).
    const busBacklog = metrics.limitHits.labels('bus_backlog')
    backend?.mq.state.on('dropped', () => { busBacklog.inc(); metrics.messagesDropped.inc({ reason: 'bus_backlog' }) })
    // Every listener's sockets from accept on, so half-open ones count against maxConnections.
    const sockets = new SocketBudget(socketHardLimit(config.limits.maxConnections), () => { metrics.limitHits.inc({ limit: 'sockets' }) })
    // Namespaces, brokers and tokens: Redis in cluster mode, `dataDir` otherwise.
    let identity: Identity | undefined
    // Per-broker quotas and usage, for the broker each client's CONNECT chose.
    let quotaEngine: QuotaEngine | undefined
    let onPublish: OnPublishHooks | undefined
    try {
      identity = await createIdentity({ config, logger, redis: backend?.settings })
      groups = await createSharedGroups({ config, logger, registry: metrics.registry, redis: backend?.settings, faults: metrics.faults })
      quotaEngine = createQuotaEngine({ config, logger, redis: backend?.settings, registry: metrics.registry })
      const quotas = quotaSteps(quotaEngine, (client) => clientIdentity(client)?.broker)
      // Each broker's on-publish hook (its `onPublish` setting, read live from the store), signed with its key.
      const { tenancy, tokens } = identity
      onPublish = createOnPublishHooks({ config, logger, registry: metrics.registry, findBroker: (namespace, name) => tenancy.findBroker(namespace, name), ...(tenancy.hasOnPublishHooks !== undefined ? { anyHook: () => tenancy.hasOnPublishHooks?.() ?? true } : {}), sign: async (b, data) => await tokens.sign(b, data) })
      broker = await createBroker({ config, logger, metrics, state, groups, identity, quotas, onPublish, halfOpenBefore: (client, cap) => sockets.connecting(client.conn, cap), clientIdOwners: () => cluster?.clientIds, ...(backend !== undefined ? { persistence: backend.persistence, mq: backend.mq } : {}) })
    } catch (err) {
      onPublish?.close()
      await groups?.close()
      await quotaEngine?.close()
      await identity?.close()
      await backend?.close()
      throw err
    }
    if (backend !== undefined) {
      cluster = await startClusterServices(broker, backend, {
        config,
        logger,
        isLive: async (podId) => (await state.registry?.members() ?? []).some((member) => member.id === podId),
        // no registry yet (the pod is starting): nobody is judged on the bus alone
        sinceRenewalMs: async (podId) => await state.registry?.sinceRenewalMs(podId) ?? 0
      })
    }

    // `$trigger` events: attached before the listeners take clients. Credentials issued and
    // revoked through this pod (API, auth over MQTT) are announced once, by this pod.
    let triggers: Triggers | undefined
    let mqttAuth: MqttAuthListener | undefined
    let listeners: Listener[] = []
    // A start that fails once the broker exists undoes, in reverse, what was started.
    const undoStart = async (): Promise<void> => {
      await mqttAuth?.close()
      triggers?.stop()
      await Promise.all(listeners.map((listener) => listener.close()))
      cluster?.stop()
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      onPublish?.close()
      await groups?.close()
      await quotaEngine?.close()
      await identity?.close()
      await backend?.close()
    }
    try {
      if (config.triggers.enabled) {
        const sharedGroups = groups
        triggers = await startTriggers(broker, { config, logger, registry: metrics.registry, cluster: backend !== undefined && cluster !== undefined ? { redis: backend.commands, liveness: cluster.liveness } : undefined, ...(sharedGroups !== undefined ? { sharedGroupFor: (topic: string) => sharedGroups.takes(topic) } : {}) })
      }
    } catch (err) {
      await undoStart()
      throw err
    }
    const tokens = triggers !== undefined ? withTokenEvents(identity.tokens, triggers.publisher) : identity.tokens

    const handle = (stream: Duplex, origin: ConnectionOrigin): void => {
      sockets.bind(stream, origin.socket)
      state.streams.add(stream)
      // on(), not once(): a stream closes once, and once()'s wrapper costs ~0.15 KB per idle connection
      stream.on('close', () => state.streams.delete(stream))
      broker.handle(stream, { starling: origin } satisfies ConnectionRequest)
    }
    let http: HttpServer | undefined
    try {
      listeners = await startListeners(config, handle, { logger, metrics, sockets })
      if (config.mqttAuth.enabled) {
        const store = identity.tenancy
        mqttAuth = await startMqttAuthListener({ config, logger, registry: metrics.registry, brokerById: (id) => store.findBrokerById(id), devices: identity.devices, tokens })
      }
      http = await startHttpServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        state,
        members: async () => await state.registry?.members() ?? [],
        adminTokens: resolveAdminTokens(config.api, process.env),
        metricsBearerToken: config.metrics.bearerToken,
        management: { tenancy: identity.tenancy, tokens, usage: usageSource(quotaEngine), devices: identity.devices, ...(triggers !== undefined ? { events: triggers.publisher } : {}) },
        logger
      })
    } catch (err) {
      await undoStart()
      throw err
    }
    // Ready while Redis is reachable: /readyz answers 503 and CONNECTs get "server unavailable"
    // while it is not, and the pod becomes ready again by itself when it returns.
    state.ready = backend?.health.up ?? true
    backend?.health.onChange((up) => { state.ready = up })
    // Cluster membership (GET /cluster, `starling cluster status`): this pod, heartbeat in Redis.
    const httpAddress = http.address
    const self = (): ReturnType<typeof describeSelf> => describeSelf({
      config, listeners, http: httpAddress, startedAt, connections: broker.connectedClients
    })
    state.registry = backend !== undefined ? await startRedisRegistry(backend.settings, { config, logger, self }) : localRegistry(self)
    const node = new StarlingNode({ config, logger, metrics, broker, listeners, http, state, backend, identity, quotas: quotaEngine, cluster, groups, onPublish, triggers, mqttAuth })
    logger.info({ listeners: listeners.map((l) => `${l.name}@${l.address.host}:${l.address.port}`), http: http.address.port }, 'starling ready')
    return node
  }

  get ready (): boolean {
    return this.#state.ready && !this.#state.draining
  }

  /** Port a listener is bound to, by name (`mqtt`, `mqtts`, `ws`, `wss`), or `http`. */
  port (name: string): number {
    if (name === 'http') return this.http.address.port
    const listener = this.listeners.find((l) => l.name === name)
    if (listener === undefined) throw new StarlingError('STARLING_ERR_UNKNOWN_LISTENER', [name])
    return listener.address.port
  }

  /**
   * Graceful drain: refuse new CONNECTs and stop accepting sockets, send MQTT 5 clients
   * DISCONNECT 0x8B (Server shutting down) and close the rest [MQTT-3.14.4-1], flush
   * persistence, close HTTP. Whatever is still open after `drainSeconds` is destroyed.
   */
  close (): Promise<void> {
    this.#closing ??= this.#drain()
    return this.#closing
  }

  /** Waits for `work` at most `ms`; a failure or a time-out is logged, never thrown. */
  async #bounded (work: Promise<unknown>, ms: number, warning: string): Promise<void> {
    try {
      if (await orTimedOut(work, ms) === TIMED_OUT) this.logger.warn({ ms }, warning + ' (timed out)')
    } catch (err) {
      this.logger.warn({ err }, warning)
    }
  }

  async #drain (): Promise<void> {
    const started = Date.now()
    this.#state.draining = true
    // Leave the membership registry first: a draining pod is no longer a member.
    await this.#state.registry?.stop()
    // Closing the broker closes its Redis connections on purpose: not an outage to report.
    this.#backend?.health.stop()
    this.#cluster?.stop()
    const deadline = this.config.drainSeconds * 1000
    // A server's close() resolves only once its open connections are gone, so stop accepting
    // now and await it after the broker has closed the clients.
    const listenersClosed = Promise.all([...this.listeners.map((listener) => listener.close()), this.mqttAuth?.close()])
    const clientsAtStart = this.broker.connectedClients
    const closed = new Promise<void>((resolve) => this.broker.close(() => resolve()))
    // Sockets that never sent CONNECT are no broker client: wait for the listeners too.
    const allClosed = closed.then(async () => { await listenersClosed })
    if (await orTimedOut(allClosed, deadline) === TIMED_OUT) {
      this.logger.warn({ drainSeconds: this.config.drainSeconds }, 'drain time exceeded, destroying remaining connections')
      for (const client of Object.values(this.broker.clients)) {
        client.conn.destroy()
      }
      // Also connections that never completed CONNECT: the listeners wait for every socket.
      for (const stream of this.#state.streams) stream.destroy()
    }
    await listenersClosed
    // Messages still waiting for a hook's answer get its failure policy now.
    this.#onPublish?.close()
    // Members are gone (their unacknowledged group messages were handed back): stop reading.
    await this.#bounded(Promise.resolve(this.#groups?.close()), 2000, 'shared subscription groups did not close cleanly')
    const persistence = this.broker.persistence
    // Flushing to Redis can hang while Redis is unreachable: it gets what is left of the drain
    // time (at least a second), then the pod exits anyway.
    const flushMs = Math.max(1000, deadline - (Date.now() - started))
    this.triggers?.stop()
    await this.#bounded(Promise.resolve(persistence?.destroy?.()), flushMs, 'persistence did not close cleanly')
    // Gone clients' connection counts leave the cluster-wide quota at once.
    await this.#bounded(this.quotas.close({ waitMs: flushMs }), flushMs, 'quota counts did not close cleanly')
    await this.#bounded(this.identity.close(), flushMs, 'tenancy and token store did not close cleanly')
    await this.#bounded(Promise.resolve(this.#backend?.close()), flushMs, 'redis connections did not close cleanly')
    await this.http.close()
    this.logger.info({ clients: clientsAtStart, ms: Date.now() - started }, 'drained')
  }
}
