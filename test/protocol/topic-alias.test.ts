import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket, Packet } from 'mqtt-packet'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'

// MQTT 5 Topic Aliases [§3.3.2.3.4, MQTT-3.3.2-7..12]. Outbound: the broker assigns aliases up to
// the client's Topic Alias Maximum; once all are taken, further topics are sent in full without
// an alias (no replacement). Inbound: aliases up to limits.topicAliasMaximum.

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

function wire (client: RawClient): Array<[string, number | undefined, string]> {
  return publishes(client).map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()])
}

async function subscribe (client: RawClient, topic: string): Promise<void> {
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as Packet)
  await client.next('suback')
}

const sequence = ['ta/alpha', 'ta/alpha', 'ta/beta', 'ta/gamma', 'ta/alpha', 'ta/gamma', 'ta/beta']

test('outbound aliases: topic + alias first, then empty topic; beyond the maximum the full topic', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-raw', properties: { topicAliasMaximum: 2 } })
  sub.onPacket = (p) => { if (p.cmd === 'publish' && p.qos > 0) sub.send({ cmd: 'puback', messageId: p.messageId } as Packet) }
  await subscribe(sub, 'ta/#')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ta-pub' })
  for (const [i, topic] of sequence.entries()) await pub.publishAsync(topic, `m${i}`, { qos: i % 2 === 0 ? 1 : 0 })
  await waitFor(() => publishes(sub).length >= sequence.length, 5000, 'all messages')
  assert.deepEqual(wire(sub), [
    ['ta/alpha', 1, 'm0'],
    ['', 1, 'm1'],
    ['ta/beta', 2, 'm2'],
    ['ta/gamma', undefined, 'm3'],
    ['', 1, 'm4'],
    ['ta/gamma', undefined, 'm5'],
    ['', 2, 'm6']
  ])
})

test('no aliases for a v5 client that allows none, nor for 3.1.1; mqtt.js resolves received aliases', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: plain } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-none' })
  plain.onPacket = (p) => { if (p.cmd === 'publish' && p.qos > 0) plain.send({ cmd: 'puback', messageId: p.messageId } as Packet) }
  await subscribe(plain, 'ta/#')
  const v4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'ta-v4' })
  const v5 = await connectClient(t, url, { protocolVersion: 5, clientId: 'ta-v5', properties: { topicAliasMaximum: 10 } })
  const got4 = collect(v4)
  const got5 = collect(v5)
  const aliasesSeen: Array<number | undefined> = []
  v5.on('packetreceive', (p) => { if (p.cmd === 'publish') aliasesSeen.push(p.properties?.topicAlias) })
  await v4.subscribeAsync('ta/#', { qos: 1 })
  await v5.subscribeAsync('ta/#', { qos: 1 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ta-pub2' })
  for (const [i, topic] of sequence.entries()) await pub.publishAsync(topic, `m${i}`, { qos: 1 })
  await waitFor(() => got4.length >= sequence.length && got5.length >= sequence.length && publishes(plain).length >= sequence.length, 5000, 'all messages')

  assert.deepEqual(got4.map((m) => m.topic), sequence)
  assert.deepEqual(got5.map((m) => m.topic), sequence)
  assert.deepEqual(wire(plain).map(([topic, alias]) => [topic, alias]), sequence.map((topic) => [topic, undefined]))
  assert.deepEqual(aliasesSeen, [1, 1, 2, 3, 1, 3, 2], 'the v5 client really got aliases on the wire')
})

test('outbound aliases are per connection: after a reconnect the topic is sent again', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ta-pub3' })
  for (let round = 0; round < 2; round++) {
    const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-re', properties: { topicAliasMaximum: 5 } })
    await subscribe(sub, 'ta/re')
    await pub.publishAsync('ta/re', 'a', { qos: 0 })
    await pub.publishAsync('ta/re', 'b', { qos: 0 })
    await waitFor(() => publishes(sub).length >= 2, 5000, 'two messages')
    assert.deepEqual(wire(sub), [['ta/re', 1, 'a'], ['', 1, 'b']], `round ${round}`)
    sub.send({ cmd: 'disconnect', reasonCode: 0 } as Packet)
    await sub.waitClosed()
  }
})

test('inbound aliases: register then use; the alias is not forwarded to subscribers', async (t) => {
  const { url, mqttPort } = await startTestNode(t, { 'limits.topicAliasMaximum': 4 })
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ta-in-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('ta/in/#', { qos: 0 })
  const { client, connack } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-in' })
  assert.equal((connack as { properties?: { topicAliasMaximum?: number } }).properties?.topicAliasMaximum, 4)
  client.send({ cmd: 'publish', topic: 'ta/in/x', payload: Buffer.from('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 4 } } as Packet)
  client.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 0, retain: false, dup: false, properties: { topicAlias: 4 } } as Packet)
  await waitFor(() => got.length >= 2, 5000, 'two messages')
  assert.deepEqual(got.map((m) => [m.topic, m.payload.toString(), m.packet.properties?.topicAlias]), [['ta/in/x', '1', undefined], ['ta/in/x', '2', undefined]])

  // mqtt.js assigning aliases by itself works too
  const auto = await connectClient(t, url, { protocolVersion: 5, clientId: 'ta-auto', autoAssignTopicAlias: true })
  for (let i = 0; i < 3; i++) await auto.publishAsync('ta/in/auto', `a${i}`, { qos: 1 })
  await waitFor(() => got.length >= 5, 5000, 'auto-aliased messages')
  assert.deepEqual(got.slice(2).map((m) => m.topic), ['ta/in/auto', 'ta/in/auto', 'ta/in/auto'])
})

test('inbound aliases: an unknown alias or one above the maximum gets DISCONNECT 0x94', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.topicAliasMaximum': 2 })
  const { client: unknown } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-unknown' })
  unknown.send({ cmd: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } } as Packet)
  assert.equal((await unknown.next('disconnect') as { reasonCode?: number }).reasonCode, 0x94)
  await unknown.waitClosed()

  const { client: tooBig } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-big' })
  tooBig.send({ cmd: 'publish', topic: 'ta/big', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } } as Packet)
  assert.equal((await tooBig.next('disconnect') as { reasonCode?: number }).reasonCode, 0x94)
  await tooBig.waitClosed()
})

test('inbound aliases are refused when limits.topicAliasMaximum is 0', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.topicAliasMaximum': 0 })
  const { client, connack } = await rawMqttConnect(t, mqttPort, { clientId: 'ta-zero' })
  assert.equal((connack as { properties?: { topicAliasMaximum?: number } }).properties?.topicAliasMaximum, undefined)
  client.send({ cmd: 'publish', topic: 'ta/z', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 1 } } as Packet)
  assert.equal((await client.next('disconnect') as { reasonCode?: number }).reasonCode, 0x94)
  await client.waitClosed()
})
