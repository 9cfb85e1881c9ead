import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import { persistenceKeyPrefix } from '../../src/cluster/keys.js'
import { RetainedIndex } from '../../src/cluster/retained-index.js'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { startRedis, testRedisIsCluster, type TestRedis } from '../helpers/redis.js'

// These read the one-server layout (the index and the plugin's hash) directly; the Redis Cluster
// layout has its own test below, which STARLING_TEST_REDIS=cluster runs on three masters.
const ONE_SERVER = { skip: testRedisIsCluster() ? 'reads the one-server key layout' : false }

// Retained messages in cluster mode are found through an index of their topic names: a wildcard
// SUBSCRIBE on any pod gets exactly the retained messages its filter matches.

const INDEX = `${persistenceKeyPrefix()}retained-index`
const HASH = `${persistenceKeyPrefix()}retained`

const TOPICS = ['site/7', 'site/7/a/temp', 'site/7/b/temp', 'site/7/b/hum', 'site/7/a/b/temp', 'site/70/a/temp', 'site/8/a/temp', 'other/x', '$app/state']

/** The topics of the retained messages a fresh client gets for `filters` (no more arrive within 150 ms). */
async function retainedFor (t: TestContext, node: TestNode, filters: string[], expected: number): Promise<string[]> {
  const client = await connectClient(t, node.url, { protocolVersion: 5 })
  const all = collect(client) // `$SYS/#` also gets the broker's live (not retained) $SYS messages
  const got = (): string[] => all.filter((m) => m.packet.retain).map((m) => m.topic)
  await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])))
  await waitFor(() => got().length >= expected, 5000, `${expected} retained for ${filters.join(' ')}`)
  await sleep(150)
  client.end(true)
  return got().sort()
}

async function publishRetained (t: TestContext, node: TestNode, topics: readonly string[], payload = (topic: string) => `v:${topic}`): Promise<void> {
  const pub = await connectClient(t, node.url, { protocolVersion: 5 })
  for (let i = 0; i < topics.length; i += 50) { // 50 in flight at most (Receive Maximum 100)
    await Promise.all(topics.slice(i, i + 50).map(async (topic) => await pub.publishAsync(topic, payload(topic), { qos: 1, retain: true })))
  }
  pub.end(true)
}

/** A Redis connection with the pods' key prefix, as a pod writes (for server-side `$SYS` retained messages). */
function redisConn (t: TestContext, redis: TestRedis): Redis {
  const conn = new Redis({ host: '127.0.0.1', port: redis.port, keyPrefix: persistenceKeyPrefix() })
  conn.on('error', () => {})
  t.after(() => conn.disconnect())
  return conn
}

/**
 * Redis, and in-process pods on it that are closed before Redis stops (`t.after` hooks run in
 * order: this one is registered first, so closing pods do not wait for a Redis that is gone).
 */
async function cluster (t: TestContext, options: { cluster?: boolean } = {}): Promise<{ redis: TestRedis, pod: (nodeId: string) => Promise<TestNode> }> {
  const pods: TestNode[] = []
  t.after(async () => { for (const p of pods.reverse()) await p.node.close() })
  const redis = await startRedis(t, options)
  const topology = options.cluster === true ? { 'redis.cluster.nodes': [`127.0.0.1:${redis.port}`] } : { 'redis.url': redis.url }
  const pod = async (nodeId: string): Promise<TestNode> => {
    // `$SYS` needs a grant (README "Access control"): one case reads a retained `$SYS` message
    const node = await startTestNode(undefined, { nodeId, 'log.level': 'info', acl: [{ action: 'subscribe', topic: '$SYS/#', allow: true }], ...topology })
    pods.push(node)
    return node
  }
  return { redis, pod }
}

const sorted = (topics: string[]): string[] => [...topics].sort()

test('retained index: wildcard filters on pod B find exactly what pod A retained', ONE_SERVER, async (t) => {
  const { redis, pod } = await cluster(t)
  const [a, b] = [await pod('pod-a'), await pod('pod-b')]
  await publishRetained(t, a, TOPICS)
  // A server-side retained `$SYS` message, written the way a pod stores one.
  await new RetainedIndex({ conn: redisConn(t, redis), cluster: false }).store({ topic: '$SYS/broker/uptime', payload: Buffer.from('1') })

  const cases: Array<[string[], string[]]> = [
    [['site/7/+/temp'], ['site/7/a/temp', 'site/7/b/temp']],
    [['site/7/#'], ['site/7', 'site/7/a/b/temp', 'site/7/a/temp', 'site/7/b/hum', 'site/7/b/temp']],
    [['site/+/+/temp'], ['site/7/a/temp', 'site/7/b/temp', 'site/70/a/temp', 'site/8/a/temp']],
    [['site/7/a/+/temp'], ['site/7/a/b/temp']],
    [['+/7/+/+'], ['site/7/a/temp', 'site/7/b/hum', 'site/7/b/temp']],
    [['+/+'], ['other/x', 'site/7']],
    [['#'], TOPICS.filter((topic) => !topic.startsWith('$'))],
    [['+/broker/uptime', '+/state'], []],
    [['$SYS/#'], ['$SYS/broker/uptime']],
    [['$app/+'], ['$app/state']],
    [['site/7/b/hum'], ['site/7/b/hum']],
    [['site/7/+/temp', 'site/7/b/hum', 'other/#', 'site/7/a/temp'], ['other/x', 'site/7/a/temp', 'site/7/b/hum', 'site/7/b/temp']]
  ]
  const results = await Promise.all(cases.map(async ([filters, expected]) => await retainedFor(t, b, filters, expected.length)))
  for (const [i, [filters, expected]] of cases.entries()) {
    assert.deepEqual(results[i], sorted(expected), `filters ${filters.join(' ')}`)
  }
  const client = await connectClient(t, b.url, { protocolVersion: 5 })
  const got = collect(client)
  await client.subscribeAsync({ 'site/7/+/temp': { qos: 1 } })
  await waitFor(() => got.length === 2, 5000, 'payloads')
  assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['v:site/7/a/temp', 'v:site/7/b/temp'])
})

test('retained index: a cleared retained message is gone from every pod and from the index', ONE_SERVER, async (t) => {
  const { redis, pod } = await cluster(t)
  const [a, b] = [await pod('pod-a'), await pod('pod-b')]
  await publishRetained(t, a, TOPICS)
  await publishRetained(t, b, ['site/7/a/temp', 'site/7'], () => '') // empty payload clears [MQTT-3.3.1-10]
  assert.deepEqual(await retainedFor(t, a, ['site/7/#'], 3), ['site/7/a/b/temp', 'site/7/b/hum', 'site/7/b/temp'])
  assert.deepEqual(await retainedFor(t, b, ['+/7/+/temp'], 1), ['site/7/b/temp'])
  assert.deepEqual(await redis.cli(['ZSCORE', INDEX, 'site/7/a/temp']), [], 'not in the index')
  assert.deepEqual(await redis.cli(['ZCARD', INDEX]), await redis.cli(['HLEN', HASH]), 'one index entry per retained message')
  // Set again after the clear: found again.
  await publishRetained(t, b, ['site/7/a/temp'], () => 'again')
  assert.deepEqual(await retainedFor(t, a, ['site/7/+/temp'], 2), ['site/7/a/temp', 'site/7/b/temp'])
})

test('retained index: built at start from retained messages stored without one', ONE_SERVER, async (t) => {
  const { redis, pod } = await cluster(t)
  const a = await pod('pod-a')
  const topics = Array.from({ length: 600 }, (_, i) => `fleet/${i % 20}/${i}/pos`)
  await publishRetained(t, a, topics)
  // What an older Starling leaves: the plugin's hash and no index; plus an entry for a topic
  // cleared by such a version (in the index, not in the hash).
  await redis.cli(['DEL', INDEX])
  await redis.cli(['ZADD', INDEX, '0', 'fleet/3/gone/pos'])
  assert.deepEqual(await redis.cli(['HLEN', HASH]), ['600'])

  const c = await pod('pod-c')
  await waitFor(() => c.logs.find(/^retained index built$/) !== undefined, 10000, 'the index to be built')
  assert.equal(c.logs.find(/^retained index built$/)?.topics, 600)
  assert.deepEqual(await redis.cli(['ZCARD', INDEX]), ['600'], 'every retained topic indexed, the stale entry gone')
  assert.deepEqual(await retainedFor(t, c, ['fleet/3/+/pos'], 30), sorted(topics.filter((topic) => topic.startsWith('fleet/3/'))))
  assert.equal((await retainedFor(t, c, ['fleet/#'], 600)).length, 600)
  // A pod started on a complete index does not rebuild it.
  const d = await pod('pod-d')
  assert.equal((await retainedFor(t, d, ['+/7/+/pos'], 30)).length, 30)
  assert.equal(d.logs.find(/^retained index built$/), undefined)
})

test('retained index over Redis Cluster: set on one pod, wildcard and clear seen on another', async (t) => {
  const { redis, pod } = await cluster(t, { cluster: true })
  const [a, b] = [await pod('pod-a'), await pod('pod-b')]
  await publishRetained(t, a, TOPICS)
  assert.deepEqual(await retainedFor(t, b, ['site/7/+/temp'], 2), ['site/7/a/temp', 'site/7/b/temp'])
  assert.deepEqual(await retainedFor(t, b, ['#'], 8), sorted(TOPICS.filter((topic) => !topic.startsWith('$'))))
  await publishRetained(t, b, ['site/7/b/temp'], () => '')
  assert.deepEqual(await retainedFor(t, a, ['site/7/#'], 4), ['site/7', 'site/7/a/b/temp', 'site/7/a/temp', 'site/7/b/hum'])
  assert.deepEqual(await redis.cli(['ZSCORE', INDEX, 'site/7/b/temp']), [])
})
