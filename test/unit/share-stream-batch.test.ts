import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { redisSettings } from '../../src/cluster/redis.js'
import { loadConfig } from '../../src/config/load.js'
import { createShareMetrics } from '../../src/groups/metrics.js'
import { parseShare, type ShareFilter } from '../../src/groups/parse.js'
import type { GroupQueue, QueuedMessage } from '../../src/groups/queue.js'
import { StreamQueueBackend } from '../../src/groups/stream-queue.js'
import { createLogger } from '../../src/logger.js'
import { closeBeforeClusterStops, clusterSeedsOf, startRedis } from '../helpers/redis.js'

// The entries one event-loop turn queues go to each group's stream in calls of up to 1,000
// (src/groups/stream-queue.ts): 2,500 messages queued in one turn for two groups make three
// calls per group; each caller resolves once stored, and each group reads every message once,
// in the order queued.
test('2,500 group messages queued in one turn for two groups: all stored, each group reads each once, in order', async (t) => {
  const redis = await startRedis(t)
  const seeds = clusterSeedsOf(redis.url)
  const config = loadConfig({ overrides: { redis: { url: redis.url, ...(seeds !== undefined ? { cluster: { nodes: [...seeds] } } : {}) } } })
  const settings = redisSettings(config.redis)
  assert.ok(settings !== undefined)
  const backend = await StreamQueueBackend.start(settings, {
    nodeId: 'batch-test', maxLength: 100_000, maxAgeMs: 60_000, claimIdleMs: 30_000, blockingReads: 4,
    logger: createLogger('silent', 'batch-test'), metrics: createShareMetrics(new Registry())
  })
  let closed = false
  const close = async (): Promise<void> => { if (!closed) { closed = true; await backend.close() } }
  closeBeforeClusterStops(redis.url, close)
  t.after(close)
  const shares = ['$share/one/batch/#', '$share/two/batch/#'].map((topic) => parseShare(topic) as ShareFilter)
  const queues = await Promise.all(shares.map(async (share) => await backend.join(share)))

  const total = 2500
  const stored = Array.from({ length: total }, async (_, i) => await backend.enqueue(shares, {
    topic: `batch/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: false, enqueuedAt: Date.now()
  }))
  await Promise.all(stored)
  // one script call per 1,000 entries (EVALSHA, or EVAL the first time a node has not the script)
  const stats = (await redis.cli(['INFO', 'commandstats'])).join('\n')
  const calls = [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
  assert.ok(calls >= 6, `script calls ${calls}`)

  for (const queue of queues) {
    const got = await readAll(queue, total)
    assert.deepEqual(got.map((m) => m.message.payload.toString()), Array.from({ length: total }, (_, i) => String(i)), `${queue.share.group}: every message once, in order`)
    queue.ack(got.map((m) => m.id))
  }
})

async function readAll (queue: GroupQueue, total: number): Promise<QueuedMessage[]> {
  const got: QueuedMessage[] = []
  const deadline = Date.now() + 20_000
  for (let turn = 0; turn < 100 && got.length < total && Date.now() < deadline; turn++) {
    got.push(...await queue.read(500).result)
  }
  return got
}
