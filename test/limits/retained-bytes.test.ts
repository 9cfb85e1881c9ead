import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IPubackPacket, Packet } from 'mqtt-packet'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// limits.maxRetainedBytes: a retained PUBLISH that would take the payload bytes of all retained
// messages over the limit gets PUBACK 0x97 (v5; QoS 0 and 3.1.1 dropped); clearing always works
// and makes room once the total is re-read (every second).

async function retainedBytesCounted (t: TestContext, overrides: Record<string, unknown>): Promise<void> {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'limits.maxRetainedBytes': 10, ...overrides })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'rb-pub' })
  const publish = (messageId: number, topic: string, payload: string): void => {
    client.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, retain: true, dup: false } as Packet)
  }
  const ack = async (messageId: number): Promise<number> => (await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === messageId)).reasonCode ?? 0
  publish(1, 'rb/1', '123456')
  assert.equal(await ack(1), 0)
  publish(2, 'rb/2', '12345')
  assert.equal(await ack(2), 0x97, '6 + 5 bytes is over 10')
  publish(3, 'rb/2', '1234')
  assert.equal(await ack(3), 0, '6 + 4 bytes fits')
  publish(4, 'rb/1', '')
  assert.equal(await ack(4), 0, 'clearing is allowed')
  await sleep(1300) // the total is re-read every second
  publish(5, 'rb/3', '12345')
  assert.equal(await ack(5), 0, 'room again once one was cleared')
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rb-sub' })
  const got: string[] = []
  sub.on('message', (topic) => got.push(topic))
  await sub.subscribeAsync('rb/#', { qos: 1 })
  await waitFor(() => got.length >= 2, 3000, 'the retained messages')
  await sleep(200)
  assert.deepEqual(got.sort(), ['rb/2', 'rb/3'])
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'retained_bytes' }), 1)
}

test('embedded: limits.maxRetainedBytes refuses a retained message over the byte total with PUBACK 0x97', async (t) => {
  await retainedBytesCounted(t, {})
})

test('cluster mode: limits.maxRetainedBytes keeps the byte total in Redis', async (t) => {
  const redis = await startRedis(t)
  await retainedBytesCounted(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32) })
})

test('cluster mode: the byte total is cluster-wide, replacing a message counts the difference', async (t) => {
  const redis = await startRedis(t)
  const options = { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32), 'limits.maxRetainedBytes': 10 }
  const one = await startTestNode(t, options)
  const two = await startTestNode(t, options)
  const pubOne = await connectClient(t, one.url, { protocolVersion: 5, clientId: 'rbc-1' })
  await pubOne.publishAsync('rbc/a', '12345678', { qos: 1, retain: true })
  // Replaced by a smaller one: the total drops to 2, not 10.
  await pubOne.publishAsync('rbc/a', '12', { qos: 1, retain: true })
  await sleep(1300) // the other pod re-reads the total every second
  const { client } = await rawMqttConnect(t, two.mqttPort, { protocolVersion: 5, clientId: 'rbc-2' })
  client.send({ cmd: 'publish', topic: 'rbc/b', payload: Buffer.from('123456789'), qos: 1, messageId: 1, retain: true, dup: false } as Packet)
  assert.equal((await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === 1)).reasonCode ?? 0, 0x97, '2 + 9 bytes is over 10')
  client.send({ cmd: 'publish', topic: 'rbc/b', payload: Buffer.from('12345678'), qos: 1, messageId: 2, retain: true, dup: false } as Packet)
  assert.equal((await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === 2)).reasonCode ?? 0, 0, '2 + 8 bytes fits')
})
