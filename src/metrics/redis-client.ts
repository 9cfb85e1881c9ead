import { pluginRetainedHashKey, pluginSessionsKey, retainedIndexKey } from '../cluster/keys.js'
import { metricsForNode } from './registry.js'
import type { ObservedRedisClient } from './redis.js'
import type { StoreKeys, StoreRedis } from './store.js'

/** Keys the store gauges read, relative to the persistence prefix (aedes-persistence-redis 11, keys.ts). */
const STORE_KEYS: StoreKeys = { sessions: pluginSessionsKey(), retainedHash: pluginRetainedHashKey(), retainedIndex: retainedIndexKey() }

/**
 * Called by createRedisClient for every Redis connection a pod opens: measured in the metrics
 * of the pod's node id (none in a process without a node, e.g. `starling cluster status`). The
 * persistence connection also serves the store gauges (retained, queued messages).
 */
export function observeRedisClient (client: unknown, options: { nodeId: string, role: string, cluster: boolean }): void {
  const metrics = metricsForNode(options.nodeId)
  if (metrics === undefined) return
  metrics.redis.observe(client as ObservedRedisClient, options.role)
  if (options.role === 'persistence') metrics.store.attachRedis(client as StoreRedis, options.cluster, STORE_KEYS)
}
