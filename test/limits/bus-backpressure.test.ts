import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// Backpressure from the cluster bus into delivery (limits.maxPendingDeliveries): Redis pushes every
// message published on any pod; while more than the bound are being delivered to this pod's
// subscribers, further QoS 0 messages from the bus are dropped and counted; QoS 1/2 are delivered.

test('cluster bus: beyond limits.maxPendingDeliveries QoS 0 from the bus is dropped and counted, QoS 1 all delivered', async (t) => {
  const redis = await startRedis(t)
  const common = { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32), 'log.level': 'warn' }
  const a = await startTestNode(t, { ...common, nodeId: 'bus-a' })
  const b = await startTestNode(t, { ...common, nodeId: 'bus-b', 'limits.maxPendingDeliveries': 10 })
  const remote = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'bus-remote' })
  const gotRemote = collect(remote)
  await remote.subscribeAsync('bus/#', { qos: 1 })
  const local = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'bus-local' })
  const gotLocal = collect(local)
  await local.subscribeAsync('bus/#', { qos: 1 })
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'bus-pub' })
  await sleep(200) // B's channel subscription is in Redis

  // A burst: B reads it from Redis in a few large chunks, each dispatched at once.
  const sent: Array<Promise<unknown>> = []
  for (let i = 0; i < 500; i++) sent.push(pub.publishAsync('bus/zero', String(i), { qos: 0 }))
  for (let i = 0; i < 50; i++) sent.push(pub.publishAsync('bus/one', String(i), { qos: 1 }))
  await Promise.all(sent)
  await waitFor(() => gotLocal.length >= 550, 10_000, 'everything at the subscriber on the publishing pod')
  await waitFor(() => gotRemote.filter((m) => m.topic === 'bus/one').length >= 50, 10_000, 'every QoS 1 message on pod B')
  await sleep(300)
  const zeros = gotRemote.filter((m) => m.topic === 'bus/zero').length
  const dropped = value(await scrape(b.httpPort), 'starling_limit_hits_total', { limit: 'bus_backlog' })
  assert.ok(dropped > 0, `QoS 0 dropped from the bus on B: ${dropped}`)
  assert.equal(zeros + dropped, 500, `${zeros} delivered + ${dropped} dropped`)
  assert.equal(value(await scrape(b.httpPort), 'starling_messages_dropped_total', { reason: 'bus_backlog' }), dropped)
})
