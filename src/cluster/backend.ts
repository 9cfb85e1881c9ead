import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { FaultMetrics } from '../metrics/faults.js'
import { RedisHealth } from './health.js'
import { RedisEmitter } from './emitter.js'
import { emitterChannel, emitterControlChannel, emitterShardChannel, persistenceKeyPrefix } from './keys.js'
import { StarlingRedisPersistence } from './redis-persistence.js'
import { createRedisClient, redisSettings, type RedisClient, type RedisClientObserver, type RedisSettings } from './redis.js'

/**
 * Cluster mode's shared state: Starling's emitter (emitter.ts, a fixed set of pub/sub channels)
 * carries messages between pods, aedes-persistence-redis keeps retained messages (with our topic
 * index), subscriptions, sessions and wills, and outgoing-store.ts persistent sessions' offline
 * queues and in-flight QoS state (redis-persistence.ts puts them together). Three connections per
 * pod: persistence commands, PUBLISH, and the SUBSCRIBE connection, which Redis reserves for
 * pub/sub once it subscribes.
 */
export interface RedisBackend {
  readonly settings: RedisSettings
  readonly health: RedisHealth
  /** Handed to aedes (src/broker/engine.ts). */
  readonly persistence: StarlingRedisPersistence
  readonly mq: RedisEmitter
  /** The persistence connection (keys relative to the persistence prefix), for Starling's own session state. */
  readonly commands: RedisClient
  /** Closes whatever connection aedes has not closed (idempotent). */
  close (): Promise<void>
}

export interface BackendDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  /** Sees every Redis client opened with the backend's settings (the pod's metrics). */
  readonly observeRedis?: RedisClientObserver
  /** Counts and logs (rate-limited) bus frames dropped as invalid. */
  readonly faults?: FaultMetrics
  /** A retained lookup stopped at `limits.maxRetainedScan` index names (the pod's metrics). */
  readonly onRetainedScanCapped?: () => void
}

/** Undefined without Redis configuration (embedded in-memory mode). */
export async function createRedisBackend (deps: BackendDeps): Promise<RedisBackend | undefined> {
  const { config, logger } = deps
  const configured = redisSettings(config.redis)
  if (configured === undefined) return undefined
  const settings: RedisSettings = deps.observeRedis !== undefined ? { ...configured, observe: deps.observeRedis } : configured

  const health = new RedisHealth(logger, settings.describe)
  health.startPing({ intervalMs: config.redis.pingIntervalMs, timeoutMs: config.redis.pingTimeoutMs })
  const common = { nodeId: config.nodeId, logger }
  const clients: Record<'persistence' | 'publish' | 'subscribe', RedisClient> = {
    persistence: createRedisClient(settings, { ...common, role: 'persistence', keyPrefix: persistenceKeyPrefix(), autoPipelining: true }),
    publish: createRedisClient(settings, { ...common, role: 'publish', autoPipelining: true }),
    subscribe: createRedisClient(settings, { ...common, role: 'subscribe', pubsub: true })
  }
  for (const [role, client] of Object.entries(clients)) health.watch(role, client)

  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    health.stop()
    await Promise.all(Object.values(clients).map(async (client) => {
      if (client.status === 'end') return
      client.disconnect()
    }))
  }

  logger.info({ redis: settings.describe }, 'connecting to redis')
  if (!await health.waitUntilUp(config.redis.startTimeoutMs)) {
    await close()
    throw new StarlingError('STARLING_ERR_REDIS_UNAVAILABLE', [settings.describe, config.redis.startTimeoutMs])
  }

  const emitter = new RedisEmitter({
    pubConn: clients.publish,
    subConn: clients.subscribe,
    // Redis Cluster: sharded channels spread over the slots (pubsub.ts); one server: plain ones
    channelName: settings.mode === 'cluster'
      ? (index) => emitterShardChannel(index, config.cluster.messageChannels)
      : emitterChannel,
    layout: { channels: config.cluster.messageChannels, levels: config.cluster.messageRouteLevels },
    controlChannel: emitterControlChannel(),
    onInvalidFrame: (err) => {
      if (deps.faults !== undefined) deps.faults.record('bus_frame_invalid', err)
      else logger.debug({ err: err.message }, 'redis emitter error')
    },
    maxPending: config.limits.maxPendingDeliveries,
    lingerMs: config.cluster.channelLingerMs
  })
  // Failed (UN)SUBSCRIBEs (retried when Redis is back) and undecodable messages; unhandled, that
  // event would end the process. The health monitor reports the connections' errors.
  emitter.state.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis emitter error'))
  const mq = emitter
  const persistence = new StarlingRedisPersistence({
    conn: clients.persistence,
    logger,
    ...(deps.faults !== undefined ? { faults: deps.faults } : {}),
    retainedScan: { max: config.limits.maxRetainedScan, onCapped: deps.onRetainedScanCapped ?? (() => {}) },
    ...(settings.mode === 'cluster' ? { cluster: true } : {})
  })
  return { settings, health, persistence, mq, commands: clients.persistence, close }
}
