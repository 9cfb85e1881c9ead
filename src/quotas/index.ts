import { effectiveTtlMs } from '../cluster/member-registry.js'
import { createRedisClient, type RedisSettings } from '../cluster/redis.js'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { QuotaMetrics } from '../metrics/quotas.js'
import type { Registry } from 'prom-client'
import { QuotaEngine, type BrokerUsage, type QuotaBroker } from './engine.js'
import { RedisQuotaStore } from './redis-store.js'
import { MemoryQuotaStore, type QuotaStore } from './store.js'

export { QuotaEngine, type BrokerUsage, type QuotaBroker, type QuotaRefusal } from './engine.js'
export { quotaSteps, type QuotaHooks, type BrokerOf } from './steps.js'
export { MemoryQuotaStore, memoryQuotaState, type QuotaStore } from './store.js'
export { RedisQuotaStore } from './redis-store.js'

export interface QuotaEngineDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  /** Cluster mode's Redis; absent: embedded (this process's memory). */
  readonly redis?: RedisSettings | undefined
  /** The node's metrics registry: per-broker series and quota refusals. */
  readonly registry?: Registry
}

/**
 * The pod's quota engine. A pod's connection counts live as long as its membership entry
 * (cluster.memberTtlMs, at least two heartbeats) and are renewed every heartbeat, so a killed
 * pod's connections stop counting when it drops out of the registry.
 */
export function createQuotaEngine (deps: QuotaEngineDeps): QuotaEngine {
  const { config, logger } = deps
  const leaseTtlMs = effectiveTtlMs(config.cluster)
  let store: QuotaStore
  if (deps.redis !== undefined) {
    const redis = createRedisClient(deps.redis, { role: 'quotas', nodeId: config.nodeId, logger, autoPipelining: true })
    // Connection errors are the health monitor's to report (the other connections see them too).
    redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis quotas connection error'))
    store = new RedisQuotaStore(redis, { pod: config.nodeId, leaseTtlMs, ownsClient: true })
  } else {
    store = new MemoryQuotaStore({ pod: config.nodeId, leaseTtlMs })
  }
  let warnedAt = 0
  const engine = new QuotaEngine({
    store,
    renewMs: config.cluster.heartbeatMs,
    onError: (err) => {
      // Flushes run every 100 ms: one line a minute while Redis is away.
      if (Date.now() - warnedAt < 60_000) return
      warnedAt = Date.now()
      logger.warn({ err: err.message }, 'quota flush failed; counting locally and retrying')
    }
  })
  if (deps.registry !== undefined) new QuotaMetrics(deps.registry, engine)
  return engine
}

/** `GET .../brokers/{broker}/usage` from the engine (the management API's UsageSource). */
export function usageSource (engine: QuotaEngine): { usage (broker: QuotaBroker, since: Date | undefined): Promise<BrokerUsage> } {
  return { usage: async (broker, since) => await engine.usage(broker.id, since) }
}
