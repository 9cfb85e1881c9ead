import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { QuotaEngine, RedisQuotaStore, type QuotaBroker } from '../../src/quotas/index.js'
import { BURST_SECONDS } from '../../src/quotas/budget.js'
import { clusterSeedsOf, startRedis, testRedisIsCluster } from '../helpers/redis.js'
import { sleep, waitFor } from '../helpers/clients.js'

/**
 * Three quota engines against one real redis-server, each standing for a pod, driven through
 * the API the broker calls. Loops are bounded in count and time.
 */

function broker (id: string, quotas: Partial<QuotaBroker['quotas']>): QuotaBroker {
  return { id, namespace: 'ns', name: id, quotas: { maxConnections: 0, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 0, ...quotas } }
}

async function pods (t: TestContext, url: string, count: number, leaseTtlMs = 15_000, renewMs = 5000): Promise<QuotaEngine[]> {
  const engines: QuotaEngine[] = []
  for (let i = 0; i < count; i++) {
    // Fails fast once the test's redis-server is stopped (its cleanup may run first). With
    // STARLING_TEST_REDIS=cluster the url names a node of a 3-master Redis Cluster.
    const seeds = clusterSeedsOf(url)
    const redis = seeds === undefined
      ? new Redis(url, { enableAutoPipelining: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      : new Cluster(seeds.map((seed) => ({ host: seed.slice(0, seed.lastIndexOf(':')), port: Number(seed.slice(seed.lastIndexOf(':') + 1)) })), { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: 0 }, clusterRetryStrategy: () => null })
    redis.on('error', () => {})
    const store = new RedisQuotaStore(redis, { pod: `pod-${i}`, leaseTtlMs, ownsClient: true })
    engines.push(new QuotaEngine({ store, renewMs }))
  }
  t.after(() => Promise.all(engines.map((engine) => engine.close())))
  return engines
}

test('connections: the cap holds exactly across 3 pods, also for a simultaneous burst', async (t) => {
  const redis = await startRedis(t)
  const engines = await pods(t, redis.url, 3)
  const b = broker('conns', { maxConnections: 10 })
  const burst = await Promise.all(engines.flatMap((engine) => Array.from({ length: 10 }, () => engine.admitConnection(b))))
  const admitted = burst.filter((r) => r === undefined).length
  assert.ok(admitted <= 10, `never above the cap: ${admitted}`)
  assert.equal(burst.filter((r) => r !== undefined).every((r) => r === 'max_connections'), true)
  // Refused candidates are written off at the next flush; then the cap is reached exactly.
  await Promise.all(engines.map((engine) => engine.flush()))
  let more = 0
  for (let i = 0; i < 20 && await engines[2]!.admitConnection(b) === undefined; i++) more++
  assert.equal(admitted + more, 10)
  assert.equal((await engines[0]!.usage(b.id)).connections, 10)

  // A closed connection frees its slot for any pod (after the releasing pod's flush).
  const holder = engines.find((engine) => [...engine.counters()].some((c) => c.connections > 0))!
  holder.releaseConnection(b)
  await holder.flush()
  assert.equal(await engines[1]!.admitConnection(b), undefined)
  assert.equal(await engines[0]!.admitConnection(b), 'max_connections')
  assert.equal((await engines[1]!.usage(b.id)).connections, 10)
})

test("connections: a dead pod's count stops counting when its lease runs out", async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await pods(t, redis.url, 2, 800, 200)
  const quota = broker('dead', { maxConnections: 5 })
  for (let i = 0; i < 4; i++) assert.equal(await a!.admitConnection(quota), undefined)
  assert.equal(await b!.admitConnection(quota), undefined)
  assert.equal(await b!.admitConnection(quota), 'max_connections')
  // Pod a is killed: no graceful release, no more renewals.
  await a!.close({ release: false })
  const killedAt = Date.now()
  // While its lease lasts, it still counts (b renews its own lease meanwhile).
  await sleep(300)
  assert.equal(await b!.admitConnection(quota), 'max_connections')
  await waitFor(() => Date.now() - killedAt > 850, 2000)
  for (let i = 0; i < 4; i++) assert.equal(await b!.admitConnection(quota), undefined, `slot ${i} freed`)
  assert.equal(await b!.admitConnection(quota), 'max_connections')
  assert.equal((await b!.usage(quota.id)).connections, 5)
})

/** Each pod offers `perTick` publishes every 5 ms for `ms`; the admitted count and the measured duration. */
async function flood (engines: QuotaEngine[], quota: QuotaBroker, ms: number, perTick: number, bytes: number): Promise<{ admitted: number, bytes: number, seconds: number, perPod: number[] }> {
  const perPod = engines.map(() => 0)
  let admittedBytes = 0
  const started = performance.now()
  let ticks = 0
  while (performance.now() - started < ms && ticks < 10_000) {
    ticks++
    engines.forEach((engine, i) => {
      for (let n = 0; n < perTick; n++) {
        if (engine.admitPublish(quota, bytes) === undefined) { perPod[i]!++; admittedBytes += bytes }
      }
    })
    await sleep(5)
  }
  const seconds = (performance.now() - started) / 1000
  return { admitted: perPod.reduce((a, b) => a + b, 0), bytes: admittedBytes, seconds, perPod }
}

test('publish rate: 3 flooding pods together stay within 10% of the quota over 4 s', async (t) => {
  const redis = await startRedis(t)
  const engines = await pods(t, redis.url, 3)
  const rate = 200
  const quota = broker('rate', { publishRatePerSecond: rate })
  // Each pod offers ~4000 messages/s, 60 times the quota together.
  const result = await flood(engines, quota, 4000, 20, 10)
  const expected = rate * result.seconds
  const ratio = result.admitted / expected
  t.diagnostic(`admitted ${result.admitted} in ${result.seconds.toFixed(2)} s (${ratio.toFixed(3)} of the quota; per pod ${result.perPod.join('/')}; burst allowance ${rate * BURST_SECONDS})`)
  assert.ok(ratio <= 1.1, `at most 10% over: ${ratio}`)
  assert.ok(ratio >= 0.9, `at least 90% of the quota is usable: ${ratio}`)
  const refused = engines.reduce((sum, engine) => sum + [...engine.counters()].reduce((s, c) => s + c.refusals.publish_rate, 0), 0)
  assert.ok(refused > result.admitted, 'the excess was refused and counted')
})

test('bytes per second: 3 flooding pods together stay within 10% of the quota over 4 s', async (t) => {
  const redis = await startRedis(t)
  const engines = await pods(t, redis.url, 3)
  const bytesPerSecond = 50_000
  const quota = broker('bytes', { bytesPerSecond })
  const result = await flood(engines, quota, 4000, 20, 250)
  const ratio = result.bytes / (bytesPerSecond * result.seconds)
  t.diagnostic(`admitted ${result.bytes} bytes in ${result.seconds.toFixed(2)} s (${ratio.toFixed(3)} of the quota; per pod ${result.perPod.join('/')})`)
  assert.ok(ratio <= 1.1, `at most 10% over: ${ratio}`)
  assert.ok(ratio >= 0.9, `at least 90% of the quota is usable: ${ratio}`)
})

test('a lone publisher below the rate is never refused, also after being idle', async (t) => {
  const redis = await startRedis(t)
  const [engine] = await pods(t, redis.url, 1)
  const quota = broker('calm', { publishRatePerSecond: 20 })
  assert.equal(await engine!.admitConnection(quota), undefined)
  let refused = 0
  for (let i = 0; i < 20; i++) {
    if (engine!.admitPublish(quota, 5) !== undefined) refused++
    await sleep(i === 10 ? 1500 : 100)
  }
  assert.equal(refused, 0)
})

test('usage: messages and bytes in and out of every pod are summed, connections are live ones', async (t) => {
  const redis = await startRedis(t)
  const engines = await pods(t, redis.url, 3)
  const quota = broker('usage', {})
  const other = broker('other', {})
  const since = new Date(Date.now() - 1000)
  for (const [i, engine] of engines.entries()) {
    for (let n = 0; n <= i; n++) assert.equal(engine.admitPublish(quota, 100), undefined)
    for (let n = 0; n < 2; n++) engine.recordDelivery(quota, 40)
    await engine.admitConnection(quota)
    engine.admitPublish(other, 7)
  }
  await Promise.all(engines.map((engine) => engine.flush()))
  const usage = await engines[0]!.usage(quota.id, since)
  assert.deepEqual({ ...usage, since: undefined }, { connections: 3, messagesIn: 6, messagesOut: 6, bytesIn: 600, bytesOut: 240, since: undefined })
  assert.ok(Date.parse(usage.since) <= since.getTime(), 'counted from the minute `since` falls in')
  const unfiltered = await engines[1]!.usage(other.id)
  assert.equal(unfiltered.messagesIn, 3)
  assert.equal(unfiltered.bytesIn, 21)
  // Keys are per broker, hash-tagged, and expire.
  const keys = await redis.cli(['KEYS', 'starling:v1:{q:usage}:*'])
  assert.ok(keys.some((k) => /:m:\d+$/.test(k)) && keys.some((k) => /:h:\d+$/.test(k)), keys.join(','))
  for (const key of keys.filter((k) => /:(m|h):\d+$/.test(k))) {
    const ttl = Number((await redis.cli(['PTTL', key]))[0])
    assert.ok(ttl > 0 && ttl <= 7 * 24 * 3_600_000 + 2 * 3_600_000, `${key} expires (${ttl})`)
  }
})

test('retained: beyond maxRetained a new topic is refused, a retained one may be replaced or cleared', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await pods(t, redis.url, 2)
  const quota = broker('ret', { maxRetained: 2 })
  assert.equal(await a!.admitRetained(quota, 't/1', false), true)
  assert.equal(await b!.admitRetained(quota, 't/2', false), true)
  assert.equal(await a!.admitRetained(quota, 't/3', false), false)
  assert.equal(await b!.admitRetained(quota, 't/1', false), true, 'replacing')
  assert.equal(await b!.admitRetained(quota, 't/1', true), true, 'clearing')
  assert.equal(await a!.admitRetained(quota, 't/3', false), true)
  assert.equal([...a!.counters()][0]!.refusals.max_retained, 1)
})

test('Redis Cluster: every script touches one slot per broker (cap, rate lease, usage, retained)', async (t) => {
  const redis = await startRedis(t, { cluster: true })
  const engines: QuotaEngine[] = []
  for (let i = 0; i < 2; i++) {
    const cluster = new Cluster([{ host: '127.0.0.1', port: redis.port }], { enableAutoPipelining: true, redisOptions: { maxRetriesPerRequest: 0 }, clusterRetryStrategy: () => null })
    cluster.on('error', () => {})
    engines.push(new QuotaEngine({ store: new RedisQuotaStore(cluster, { pod: `pod-${i}`, leaseTtlMs: 15_000, ownsClient: true }), renewMs: 5000 }))
  }
  t.after(() => Promise.all(engines.map((engine) => engine.close())))
  const [a, b] = engines as [QuotaEngine, QuotaEngine]
  const quota = broker('slot', { maxConnections: 2, publishRatePerSecond: 100, maxRetained: 1 })
  assert.equal(await a.admitConnection(quota), undefined)
  assert.equal(await b.admitConnection(quota), undefined)
  assert.equal(await b.admitConnection(quota), 'max_connections')
  assert.equal(a.admitPublish(quota, 10), undefined, 'the standing tokens were leased at CONNECT')
  b.recordDelivery(quota, 10)
  assert.equal(await a.admitRetained(quota, 'x', false), true)
  assert.equal(await b.admitRetained(quota, 'y', false), false)
  await Promise.all(engines.map((engine) => engine.flush()))
  const usage = await b.usage(quota.id)
  assert.equal(usage.connections, 2)
  assert.equal(usage.messagesIn, 1)
  assert.equal(usage.messagesOut, 1)
})

test('a changed quota applies at the next call (the newest broker record wins)', async (t) => {
  const redis = await startRedis(t)
  const [engine] = await pods(t, redis.url, 1)
  assert.equal(await engine!.admitConnection(broker('patched', { maxConnections: 1 })), undefined)
  assert.equal(await engine!.admitConnection(broker('patched', { maxConnections: 1 })), 'max_connections')
  assert.equal(await engine!.admitConnection(broker('patched', { maxConnections: 2 })), undefined)
  assert.equal(await engine!.admitConnection(broker('patched', { maxConnections: 0 })), undefined, '0: no limit')
  assert.equal((await engine!.usage('patched')).connections, 3)
})

test('close while Redis is away: the last flush is bounded and the connection ends (no client left reconnecting)', { skip: testRedisIsCluster() ? 'stops Redis: one server only' : false }, async (t) => {
  const redis = await startRedis(t)
  // Retries forever, as the pod's own quota connection does.
  const client = new Redis(redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: null, retryStrategy: () => 50 })
  client.on('error', () => {})
  const engine = new QuotaEngine({ store: new RedisQuotaStore(client, { pod: 'pod-away', leaseTtlMs: 15_000, ownsClient: true }), renewMs: 5000 })
  const quota = broker('away', { maxConnections: 5 })
  assert.equal(await engine.admitConnection(quota), undefined)
  await redis.stop()
  await waitFor(() => client.status === 'reconnecting' || client.status === 'connecting', 5000, 'the connection to drop')
  const started = Date.now()
  await engine.close({ waitMs: 300 })
  const took = Date.now() - started
  assert.ok(took < 2000, `close returned after the wait, not when Redis came back (${took} ms)`)
  // disconnect() while reconnecting clears the retry timer; no new connection attempt follows
  const attempts: string[] = []
  client.on('connecting', () => attempts.push('connecting'))
  await sleep(300)
  assert.deepEqual(attempts, [], 'no reconnect attempt after close')
})
