import { pluginRetainedHashKey, pluginSessionsKey, retainedIndexKey } from '../cluster/keys.js'
import type { ObservedRedisClient, RedisMetrics } from './redis.js'
import type { StoreKeys, StoreMetrics, StoreRedis } from './store.js'

/** Keys the store gauges read, relative to the persistence prefix (aedes-persistence-redis 11, keys.ts). */
const STORE_KEYS: StoreKeys = { sessions: pluginSessionsKey(), retainedHash: pluginRetainedHashKey(), retainedIndex: retainedIndexKey() }

/**
 * The observer a pod gives its Redis settings (`RedisSettings.observe`): every connection it opens
 * is measured in that pod's metrics; the persistence connection also serves the store gauges
 * (retained, queued messages).
 */
export function redisClientObserver (metrics: { readonly redis: RedisMetrics, readonly store: StoreMetrics }): (client: unknown, connection: { readonly role: string, readonly cluster: boolean }) => void {
  return (client, { role, cluster }) => {
    metrics.redis.observe(client as ObservedRedisClient, role)
    if (role === 'persistence') metrics.store.attachRedis(client as StoreRedis, cluster, STORE_KEYS)
  }
}
