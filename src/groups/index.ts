import type { FaultMetrics } from '../metrics/faults.js'
import type { Registry } from 'prom-client'
import type { RedisSettings } from '../cluster/redis.js'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { MemoryQueueBackend } from './memory-queue.js'
import { createShareMetrics } from './metrics.js'
import type { QueueBackend } from './queue.js'
import { SharedGroups } from './shared.js'
import { StreamQueueBackend } from './stream-queue.js'

export { SharedGroups } from './shared.js'
export { isSharedTopic, parseShare } from './parse.js'

export interface GroupsDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly registry: Registry
  /** Cluster mode: group queues are Redis Streams; embedded mode (undefined): in this process. */
  readonly redis?: RedisSettings | undefined
  /** Faults survived (stored group entries that do not decode). */
  readonly faults?: FaultMetrics | undefined
}

/** Shared subscriptions for one pod, over Redis Streams in cluster mode, in memory otherwise. */
export async function createSharedGroups (deps: GroupsDeps): Promise<SharedGroups> {
  const { config, logger } = deps
  const metrics = createShareMetrics(deps.registry, config.share.metricsMaxGroups)
  const limits = { maxLength: config.share.maxLength, maxAgeMs: config.share.maxAgeMs, maxBytes: config.share.maxBytes }
  const backend: QueueBackend = deps.redis !== undefined
    ? await StreamQueueBackend.start(deps.redis, { ...limits, nodeId: config.nodeId, claimIdleMs: config.share.claimIdleMs, blockingReads: config.share.blockingReads, logger, metrics, faults: deps.faults })
    : new MemoryQueueBackend(limits, metrics)
  return new SharedGroups({ backend, metrics, logger, window: config.share.inflightPerMember, readBatch: config.share.readBatch, sweepMs: config.share.sweepMs })
}
