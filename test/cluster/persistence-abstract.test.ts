import { createRequire } from 'node:module'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { persistenceKeyPrefix } from '../../src/cluster/keys.js'
import { StarlingRedisPersistence } from '../../src/cluster/redis-persistence.js'
import { startRedis } from '../helpers/redis.js'

// aedes-persistence's own abstract suite (the contract every aedes persistence must meet:
// retained, subscriptions, offline queue order, packet ids, PUBREL state, wills) run against
// Starling's Redis persistence, on a real redis-server, standalone and as a one-node Redis Cluster.

type AbstractTest = (name: string, fn: (t: TestContext) => Promise<void>) => void
const require = createRequire(import.meta.url)
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: {
  test: AbstractTest
  persistence: () => Promise<unknown>
  testAsync: boolean
}) => void

for (const mode of ['standalone', 'cluster'] as const) {
  test(`aedes-persistence abstract suite: StarlingRedisPersistence, ${mode}`, async (t) => {
    const redis = await startRedis(t, { cluster: mode === 'cluster' })
    const admin = new Redis(redis.port, '127.0.0.1')
    t.after(() => admin.disconnect())
    const subtests: Array<Promise<void>> = []
    abstractPersistence({
      testAsync: true,
      test: (name, fn) => { subtests.push(t.test(name, fn)) },
      persistence: async () => {
        await admin.flushall()
        if (mode === 'standalone') {
          const conn = new Redis(redis.port, '127.0.0.1', { keyPrefix: persistenceKeyPrefix(), enableAutoPipelining: true })
          return new StarlingRedisPersistence({ conn })
        }
        const conn = new Redis.Cluster([{ host: '127.0.0.1', port: redis.port }], { keyPrefix: persistenceKeyPrefix(), enableAutoPipelining: true })
        return new StarlingRedisPersistence({ conn, cluster: true })
      }
    })
    await Promise.all(subtests)
  })
}
