import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IPubackPacket, Packet } from 'mqtt-packet'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// limits.maxRetainedPerSubscription: a SUBSCRIBE whose filters match more retained messages gets
// that many; the lookup stops there (in cluster mode, the walk of the retained index stops with
// it) and the cut is counted.

async function retainedCapped (t: TestContext, overrides: Record<string, unknown>): Promise<void> {
  const { url, httpPort } = await startTestNode(t, { 'limits.maxRetainedPerSubscription': 5, ...overrides })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ret-pub' })
  for (let i = 0; i < 30; i++) await pub.publishAsync(`ret/${i}`, String(i), { qos: 1, retain: true })
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ret-sub' })
  const got: string[] = []
  sub.on('message', (topic) => got.push(topic))
  await sub.subscribeAsync('#', { qos: 1 })
  await waitFor(() => got.length >= 5, 3000, 'five retained messages')
  await sleep(300)
  assert.equal(got.length, 5, 'no more than limits.maxRetainedPerSubscription')
  // An exact filter still gets its one message, and live messages flow.
  const exact: string[] = []
  const other = await connectClient(t, url, { protocolVersion: 5, clientId: 'ret-exact' })
  other.on('message', (topic) => exact.push(topic))
  await other.subscribeAsync('ret/29', { qos: 1 })
  await waitFor(() => exact.length === 1, 3000, 'the exact retained message')
  await pub.publishAsync('ret/live', 'x', { qos: 1 })
  await waitFor(() => got.includes('ret/live'), 3000, 'a live message after the cut')
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'retained_per_subscription' }), 1)
}

test('embedded: a wildcard SUBSCRIBE gets at most limits.maxRetainedPerSubscription retained messages', async (t) => {
  await retainedCapped(t, {})
})

test('cluster mode: the same, over the Redis retained index', async (t) => {
  const redis = await startRedis(t)
  await retainedCapped(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32) })
})

test('cluster mode: a wildcard-first filter reads at most limits.maxRetainedScan index names, counted', async (t) => {
  const redis = await startRedis(t)
  const { url, httpPort } = await startTestNode(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32), 'limits.maxRetainedScan': 1000 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'scan-pub' })
  // 1,500 names before the one the filter matches (the index is in byte order).
  for (let i = 0; i < 1500; i++) void pub.publish(`s/${i}`, 'x', { qos: 0, retain: true })
  await pub.publishAsync('z/x', 'last', { qos: 1, retain: true })
  const near = await connectClient(t, url, { protocolVersion: 5, clientId: 'scan-near' })
  const nearGot: string[] = []
  near.on('message', (topic) => nearGot.push(topic))
  // A filter with a literal prefix reads only its range: found.
  await near.subscribeAsync('z/+', { qos: 0 })
  await waitFor(() => nearGot.length === 1, 3000, 'z/x through its prefix')
  const far = await connectClient(t, url, { protocolVersion: 5, clientId: 'scan-far' })
  const farGot: string[] = []
  far.on('message', (topic) => farGot.push(topic))
  await far.subscribeAsync('+/x', { qos: 0 })
  await sleep(500)
  assert.deepEqual(farGot, [], 'the walk stopped before reaching z/x')
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'retained_scan' }), 1)
})

// limits.maxRetainedMessages: a retained PUBLISH storing one more message than the installation
// keeps gets PUBACK 0x97 (v5; QoS 0 and 3.1.1 dropped); clearing always works.
async function retainedCounted (t: TestContext, overrides: Record<string, unknown>): Promise<void> {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'limits.maxRetainedMessages': 3, ...overrides })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'rq-pub' })
  const publish = (messageId: number, topic: string, payload: string): void => {
    client.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, retain: true, dup: false } as Packet)
  }
  const ack = async (messageId: number): Promise<number> => (await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === messageId)).reasonCode ?? 0
  for (let i = 1; i <= 3; i++) { publish(i, `rq/${i}`, 'x'); assert.equal(await ack(i), 0) }
  publish(4, 'rq/4', 'x')
  assert.equal(await ack(4), 0x97, 'a fourth retained message is refused')
  publish(5, 'rq/1', '')
  assert.equal(await ack(5), 0, 'clearing is allowed')
  await sleep(1300) // the count is re-read every second
  publish(6, 'rq/4', 'x')
  assert.equal(await ack(6), 0, 'room again once one was cleared')
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rq-sub' })
  const got: string[] = []
  sub.on('message', (topic) => got.push(topic))
  await sub.subscribeAsync('rq/#', { qos: 1 })
  await waitFor(() => got.length >= 3, 3000, 'the retained messages')
  await sleep(200)
  assert.deepEqual(got.sort(), ['rq/2', 'rq/3', 'rq/4'])
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'retained_messages' }), 1)
}

test('embedded: limits.maxRetainedMessages refuses one retained message more with PUBACK 0x97', async (t) => {
  await retainedCounted(t, {})
})

test('cluster mode: limits.maxRetainedMessages counts the retained messages in Redis', async (t) => {
  const redis = await startRedis(t)
  await retainedCounted(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32) })
})
