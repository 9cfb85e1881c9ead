import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPubackPacket, Packet } from 'mqtt-packet'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { subackCodes } from '../helpers/suback.js'

// limits.maxTopicLength (UTF-8 bytes) and limits.maxTopicLevels. A PUBLISH beyond them is refused
// with PUBACK/PUBREC 0x90 Topic Name invalid ("correctly formed, but not accepted by this
// Server", §3.4.2.1) in MQTT 5, dropped for QoS 0 and for 3.1.1 (acknowledged as usual
// [MQTT-3.3.5-2]); the connection stays. A filter beyond them gets SUBACK 0x8F / 0x80.

const overrides = { 'limits.maxTopicLength': 32, 'limits.maxTopicLevels': 4 }
const long = 'l/' + 'x'.repeat(40)
const deep = 'a/b/c/d/e'

test('PUBLISH to a topic too long or too deep: PUBACK 0x90 (v5), nothing delivered, connection kept', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, overrides)
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'topic-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'topic-pub' })
  client.send({ cmd: 'publish', topic: long, payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false } as Packet)
  client.send({ cmd: 'publish', topic: deep, payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false } as Packet)
  // Multi-byte characters: 11 × 'é' is 22 bytes, 17 is 34 (over 32).
  client.send({ cmd: 'publish', topic: 'é'.repeat(17), payload: Buffer.from('3'), qos: 1, messageId: 3, retain: false, dup: false } as Packet)
  client.send({ cmd: 'publish', topic: long, payload: Buffer.from('4'), qos: 0, retain: false, dup: false } as Packet)
  client.send({ cmd: 'publish', topic: 'a/b/c/d', payload: Buffer.from('ok'), qos: 1, messageId: 5, retain: false, dup: false } as Packet)
  const acks = await Promise.all([1, 2, 3, 5].map(async (id) => await client.next<IPubackPacket>('puback', 3000, (p) => p.messageId === id)))
  assert.deepEqual(acks.map((a) => a.reasonCode ?? 0), [0x90, 0x90, 0x90, 0])
  await waitFor(() => got.length >= 1, 3000, 'the allowed message')
  await sleep(100)
  assert.deepEqual(got.map((m) => m.topic), ['a/b/c/d'])
  assert.equal(client.closed, false)
  const samples = await scrape(httpPort)
  assert.equal(value(samples, 'starling_limit_hits_total', { limit: 'topic_length' }), 3)
  assert.equal(value(samples, 'starling_limit_hits_total', { limit: 'topic_levels' }), 1)
})

test('MQTT 3.1.1: a PUBLISH beyond the topic limits is acknowledged and dropped, the connection stays', async (t) => {
  const { url } = await startTestNode(t, overrides)
  const sub = await connectClient(t, url, { protocolVersion: 4, clientId: 'topic-sub4' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'topic-pub4' })
  await pub.publishAsync(deep, 'dropped', { qos: 1 })
  await pub.publishAsync('a/b', 'kept', { qos: 1 })
  await waitFor(() => got.length >= 1, 3000, 'the allowed message')
  await sleep(100)
  assert.deepEqual(got.map((m) => m.topic), ['a/b'])
  assert.equal(pub.connected, true)
})

test('a filter too long or too deep gets SUBACK 0x8F (v5) / 0x80 (3.1.1), shared ones on their inner filter', async (t) => {
  const { mqttPort } = await startTestNode(t, overrides)
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'filter-limits' })
  assert.deepEqual(await subackCodes(client, [long, 'a/b/c/d/#', '$share/g/a/b/c/+', '$share/g/a/b/c/d/+', 'a/+/c/#']), [0x8F, 0x8F, 1, 0x8F, 1])
  const { client: v4 } = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'filter-limits4' })
  assert.deepEqual(await subackCodes(v4, [deep, 'a/#']), [0x80, 1])
})
