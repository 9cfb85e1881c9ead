import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, waitFor } from '../helpers/clients.js'
import { busSlot, closeSession, missing, openSession, pick, publishUntilStopped, queueSlot, type Session } from '../helpers/cluster-traffic.js'
import { startPods } from '../helpers/pods.js'
import { startRedisCluster } from '../helpers/redis-cluster.js'
import { testRedisIsCluster } from '../helpers/redis.js'

// A slot migration under load (`redis-cli --cluster reshard`) on a 3-master Redis Cluster: the
// slots that hold persistent sessions' queues and the bus channels of the traffic move from one
// master to another while QoS 1 messages flow into those sessions, some online, some offline.
// Nothing acknowledged to the publisher may be lost from a session's queue [MQTT-4.3.2-2]
// [MQTT-4.5.0-1], online sessions included: a pod subscribed to a moving bus channel misses what
// is published on it between the hand-over and its re-subscription on the new owner
// (milliseconds: the pods re-read the slot map as soon as Redis drops their subscription), and
// its persistent sessions listening on that channel are then asked to reconnect and replay
// those messages from their queues (src/cluster/resync.ts; docs/scaling.md, "Slot migration and
// failover"). The test counts those reconnections.
// Runs with `npm run test:redis-cluster` (STARLING_TEST_REDIS=cluster); build first.

const MOVED_SLOTS = 2000
/** Chosen so that what the test watches lives in the slots that move (0 .. MOVED_SLOTS-1). */
const inMovedSlots = (slot: number): boolean => slot < MOVED_SLOTS - 100

test('Redis Cluster reshard under QoS 1 traffic into persistent sessions: nothing acknowledged is lost', { skip: !testRedisIsCluster() && 'STARLING_TEST_REDIS=cluster (npm run test:redis-cluster)' }, async (t) => {
  const cluster = await startRedisCluster(t, { masters: 3 })
  // no offline-queue cap in the way: every acknowledged message must reach every session
  const env = { STARLING_REDIS_CLUSTER_NODES: JSON.stringify(cluster.seeds), STARLING_LIMITS_MAX_QUEUED_MESSAGES: '1000000' }
  const [a, b, c] = await startPods(t, ['rs-a', 'rs-b', 'rs-c'], { redisUrl: '', env })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)

  const topics = pick(4, (n) => `rs/${n}/data`, (topic) => inMovedSlots(busSlot(topic)))
  const ids = pick(8, (n) => `rs-session-${n}`, (id) => inMovedSlots(queueSlot(id)))
  const sessions: Session[] = ids.map((id) => ({ id, client: undefined, got: new Set<number>() }))
  const online = sessions.slice(0, 4)
  const offline = sessions.slice(4)
  await Promise.all(sessions.map(async (s, i) => await openSession(t, (i % 2 === 0 ? b : c).url, s, 'rs/+/data')))
  await Promise.all(offline.map(closeSession))

  const topology = await cluster.topology()
  const source = topology.find((n) => n.role === 'master' && n.slots.some(([low]) => low === 0))!
  const target = topology.find((n) => n.role === 'master' && n !== source)!

  let reconnects = 0
  for (const s of online) s.client!.on('connect', () => { reconnects++ })

  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'rs-pub', reconnectPeriod: 300 })
  const publishing = publishUntilStopped(pub, topics, 8, 5)
  await waitFor(() => publishing.acked.length >= 300, 20000, 'traffic before the reshard')
  const started = Date.now()
  await cluster.reshard(source.port, target.port, MOVED_SLOTS)
  const reshardMs = Date.now() - started
  const ackedDuring = publishing.acked.length
  await new Promise((resolve) => setTimeout(resolve, 1000)) // traffic after the move too
  await publishing.stop()
  await cluster.waitHealthy()

  const after = await cluster.topology()
  const owner = (slot: number): number | undefined => after.find((n) => n.role === 'master' && n.slots.some(([low, high]) => slot >= low && slot <= high))?.port
  for (const id of ids) assert.equal(owner(queueSlot(id)), target.port, `${id}'s queue moved`)
  for (const topic of topics) assert.equal(owner(busSlot(topic)), target.port, `${topic}'s bus channel moved`)

  await Promise.all(offline.map(async (s, i) => await openSession(t, [a, b, c][i % 3]!.url, s)))
  const acked = publishing.acked
  await waitFor(() => sessions.every((s) => missing(acked, s).length === 0), 30000, 'every acknowledged message in every session').catch(() => {})
  const lost = sessions.map((s) => `${s.id}: ${missing(acked, s).length} missing (first ${missing(acked, s).slice(0, 5).join(',')})`)
  t.diagnostic(`reshard of ${MOVED_SLOTS} slots took ${reshardMs} ms; ${acked.length} messages acknowledged (${ackedDuring} by the end of the reshard), ${publishing.failed.length} refused`)
  t.diagnostic(`online sessions: ${reconnects} reconnections to replay their queues after the hand-over; missing at the end: ${online.reduce((n, s) => n + missing(acked, s).length, 0)} of ${acked.length * online.length} online, ${offline.reduce((n, s) => n + missing(acked, s).length, 0)} of ${acked.length * offline.length} queued`)
  assert.deepEqual(offline.filter((s) => missing(acked, s).length > 0).map((s) => s.id), [], `nothing acknowledged lost from a queue:\n${lost.join('\n')}`)
  assert.deepEqual(online.filter((s) => missing(acked, s).length > 0).map((s) => s.id), [], `nothing acknowledged lost to an online session:\n${lost.join('\n')}`)
  assert.ok(acked.length > 300, 'traffic flowed')
})
