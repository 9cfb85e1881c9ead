import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPubackPacket, Packet } from 'mqtt-packet'
import { collect, connectClient, refusedCode, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

// limits.publishRatePerClient / publishBytesPerClient (token buckets, one second's burst): QoS 1/2
// beyond them get PUBACK/PUBREC 0x97 Quota exceeded (v5: 0x97 Message rate too high is not a
// PUBACK/PUBREC reason code, §3.4.2.1), QoS 0 and 3.1.1 are dropped; all counted. limits.connectRatePerAddress: CONNACK 0x9F Connection rate exceeded (v5) / 3 (3.1.1).

function publish (messageId: number, qos: 0 | 1, size = 1): Packet {
  return { cmd: 'publish', topic: 'rate/t', payload: Buffer.alloc(size, 7), qos, messageId, retain: false, dup: false } as Packet
}

test('publish rate per client: beyond the burst QoS 1 gets PUBACK 0x97, QoS 0 is dropped; other clients unaffected; the bucket refills', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'limits.publishRatePerClient': 5 })
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rate-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('rate/#', { qos: 1 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'rate-pub' })
  for (let id = 1; id <= 8; id++) client.send(publish(id, 1))
  for (let i = 0; i < 4; i++) client.send(publish(0, 0))
  const acks = await Promise.all(Array.from({ length: 8 }, async (_, i) => await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === i + 1)))
  const codes = acks.map((a) => a.reasonCode ?? 0)
  assert.deepEqual(codes.slice(0, 5), [0, 0, 0, 0, 0], codes.join(','))
  assert.deepEqual(codes.slice(5), [0x97, 0x97, 0x97], codes.join(','))
  await waitFor(() => got.length >= 5, 3000, 'the five within the burst')
  await sleep(100)
  assert.equal(got.length, 5, 'refused and dropped messages are not delivered')
  // Another client has its own bucket.
  const other = await connectClient(t, url, { protocolVersion: 5, clientId: 'rate-other' })
  await other.publishAsync('rate/o', 'x', { qos: 1 })
  // One token back after 200 ms.
  await sleep(250)
  client.send(publish(9, 1))
  assert.equal((await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === 9)).reasonCode ?? 0, 0)
  assert.equal(client.closed, false)
  const samples = await scrape(httpPort)
  assert.equal(value(samples, 'starling_limit_hits_total', { limit: 'publish_rate' }), 7)
})

test('publish bytes per client: beyond a second\'s bytes PUBACK 0x97; MQTT 3.1.1 is acknowledged and dropped', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'limits.publishBytesPerClient': 1000 })
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'bytes-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('rate/#', { qos: 1 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'bytes-pub' })
  // 600 bytes fit, 400 are left: the next 600 are refused, 300 fit; a 1500-byte one (more than a
  // second's worth) passes only with a full bucket.
  client.send(publish(1, 1, 600))
  client.send(publish(2, 1, 600))
  client.send(publish(3, 1, 300))
  client.send(publish(4, 1, 1500))
  const acks = await Promise.all([1, 2, 3, 4].map(async (id) => await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === id)))
  assert.deepEqual(acks.map((a) => a.reasonCode ?? 0), [0, 0x97, 0, 0x97])
  await sleep(1100)
  client.send(publish(5, 1, 1500))
  assert.equal((await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === 5)).reasonCode ?? 0, 0)
  const { client: v4 } = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'bytes-pub4' })
  for (let id = 1; id <= 3; id++) v4.send(publish(id, 1, 600))
  const acks4 = await Promise.all([1, 2, 3].map(async (id) => await v4.next<IPubackPacket>('puback', 3000, (p) => p.messageId === id)))
  assert.equal(acks4.length, 3, '3.1.1: every QoS 1 PUBLISH acknowledged [MQTT-3.3.5-2]')
  // v5: 600, 300, 1500; 3.1.1: 600 (then 600 and 600 dropped).
  await waitFor(() => got.length >= 4, 3000, 'the four within the buckets')
  await sleep(100)
  assert.equal(got.length, 4)
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'publish_bytes' }), 4)
})

test('connect rate per source address: CONNACK 0x9F (v5) / 3 (3.1.1) beyond the burst, counted', async (t) => {
  const { url, httpPort } = await startTestNode(t, { 'limits.connectRatePerAddress': 3 })
  for (let i = 0; i < 3; i++) await connectClient(t, url, { protocolVersion: 5, clientId: `cr-${i}` })
  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'cr-refused' }), 0x9F)
  assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: 'cr-refused4' }), 3)
  await sleep(400) // one token back
  await connectClient(t, url, { protocolVersion: 5, clientId: 'cr-later' })
  const samples = await scrape(httpPort)
  assert.equal(value(samples, 'starling_limit_hits_total', { limit: 'connect_rate' }), 2)
  assert.equal(value(samples, 'starling_connects_refused_total', { reason: 'connect_rate' }), 2)
})

test('the connect-rate map is bounded: the least recently seen address is forgotten first', async () => {
  const { KeyedTokenBuckets } = await import('../../src/util/token-bucket.js')
  const buckets = new KeyedTokenBuckets(1, 3)
  const now = 1_000_000
  for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) assert.equal(buckets.take(address, 1, now), true)
  assert.equal(buckets.take('10.0.0.1', 1, now), false, 'its one token is spent')
  // A fourth address pushes out the least recently seen one (10.0.0.2, as 10.0.0.1 was just seen).
  assert.equal(buckets.take('10.0.0.4', 1, now), true)
  assert.equal(buckets.size, 3)
  assert.equal(buckets.take('10.0.0.2', 1, now), true, 'forgotten, so a full bucket again')
  assert.equal(buckets.take('10.0.0.1', 1, now + 1000), true, 'refilled after a second')
  for (let i = 0; i < 10_000; i++) buckets.take(`192.0.2.${i}`, 1, now)
  assert.equal(buckets.size, 3)
})
