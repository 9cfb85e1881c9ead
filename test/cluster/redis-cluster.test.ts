import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, endClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// The Redis Cluster topology (`redis.cluster.nodes`), on a one-node cluster: the ioredis Cluster
// client, aedes-persistence-redis' cluster mode (no multi-key commands, retained messages as
// separate keys found with SCAN) and our versioned key prefix together.

test('cluster over Redis Cluster: messages, retained wildcards and sessions cross pods', async (t) => {
  const redis = await startRedis(t, { cluster: true })
  const env = { STARLING_REDIS_CLUSTER_NODES: JSON.stringify([`127.0.0.1:${redis.port}`]) }
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: '', env })
  assert.ok(a !== undefined && b !== undefined)

  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'rc-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync(`rc/${i}/state`, `s${i}`, { qos: 1, retain: true })
  const sub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'rc-sub' })
  const retained = collect(sub)
  await sub.subscribeAsync({ 'rc/+/state': { qos: 1 } })
  await waitFor(() => retained.length >= 5, 5000, 'every retained message through a wildcard')
  await sleep(100)
  assert.deepEqual(retained.map((m) => m.payload.toString()).sort(), ['s0', 's1', 's2', 's3', 's4'])
  assert.ok((await redis.cli(['KEYS', '*'])).every((key) => key.startsWith('starling:v1:')), 'every key under the versioned prefix')

  const session = await connectClient(t, a.url, persistentSession(5, 'rc-session'))
  await session.subscribeAsync({ 'rc/queue': { qos: 1 } })
  await endClient(session)
  for (const payload of ['q1', 'q2']) await pub.publishAsync('rc/queue', payload, { qos: 1 })
  const queued = resumeSession(t, b.url, persistentSession(5, 'rc-session'))
  await waitFor(() => queued.length >= 2, 5000, 'the queued messages on B')
  assert.deepEqual(queued.map((m) => m.payload.toString()), ['q1', 'q2'])
})
