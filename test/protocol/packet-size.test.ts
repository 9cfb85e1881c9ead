import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'
import type { BrokerMetrics } from '../../src/metrics/registry.js'

// Maximum Packet Size. Inbound: limits.maxPacketSize (DISCONNECT 0x95 for v5, connection closed
// for 3.1.1). Outbound: never send a client a packet above the Maximum Packet Size it set in
// CONNECT; a PUBLISH that would be is discarded for that client as if delivered [MQTT-3.1.2-24/25].

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

async function counterValue (counter: BrokerMetrics['messagesDropped'] | BrokerMetrics['messagesSent'], labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get()
  return values.filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((sum, v) => sum + v.value, 0)
}

function autoAck (client: RawClient): void {
  const ack = (p: Packet): void => {
    if (p.cmd === 'publish' && p.qos === 1) client.send({ cmd: 'puback', messageId: p.messageId } as Packet)
  }
  client.onPacket = ack
  client.received.forEach(ack)
}

test('inbound: an oversized PUBLISH gets DISCONNECT 0x95 (v5) or a closed connection (3.1.1); others keep working', async (t) => {
  const { url, mqttPort } = await startTestNode(t, { 'limits.maxPacketSize': 1024 })
  const bystander = await connectClient(t, url, { protocolVersion: 5, clientId: 'ps-by' })
  const got = collect(bystander)
  await bystander.subscribeAsync('ps/in', { qos: 1 })

  const { client: v5, connack } = await rawMqttConnect(t, mqttPort, { clientId: 'ps-v5' })
  assert.equal((connack as { properties?: { maximumPacketSize?: number } }).properties?.maximumPacketSize, 1024)
  v5.send({ cmd: 'publish', topic: 'ps/in', payload: Buffer.alloc(2000, 1), qos: 1, messageId: 1, retain: false, dup: false } as Packet)
  assert.equal((await v5.next('disconnect') as { reasonCode?: number }).reasonCode, 0x95)
  await v5.waitClosed()

  const { client: v4 } = await rawMqttConnect(t, mqttPort, { clientId: 'ps-v4', protocolVersion: 4 })
  v4.send({ cmd: 'publish', topic: 'ps/in', payload: Buffer.alloc(2000, 1), qos: 1, messageId: 1, retain: false, dup: false } as Packet)
  await v4.waitClosed()
  assert.equal(v4.received.some((p) => p.cmd === 'puback'), false)

  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'ps-pub' })
  await pub.publishAsync('ps/in', Buffer.alloc(900, 2), { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the small message')
  assert.equal(got[0]?.payload.length, 900)
})

test('outbound: a PUBLISH above the client\'s Maximum Packet Size is dropped for it only, counted, and does not block the window', async (t) => {
  const { url, mqttPort, node } = await startTestNode(t)
  const session = { clientId: 'ps-small', clean: false, properties: { maximumPacketSize: 200, receiveMaximum: 1, sessionExpiryInterval: 300 } }
  const { client: small } = await rawMqttConnect(t, mqttPort, session)
  autoAck(small)
  small.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ps/out/#', qos: 1 }] } as Packet)
  await small.next('suback')
  const big = await connectClient(t, url, { protocolVersion: 5, clientId: 'ps-big' })
  const got = collect(big)
  await big.subscribeAsync('ps/out/#', { qos: 1 })
  const sentBefore = await counterValue(node.metrics.messagesSent, { qos: '1' })
  const sent0Before = await counterValue(node.metrics.messagesSent, { qos: '0' })

  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ps-pub2' })
  await pub.publishAsync('ps/out/a', 'small-1', { qos: 1 })
  await pub.publishAsync('ps/out/a', Buffer.alloc(500, 3), { qos: 1 })
  await pub.publishAsync('ps/out/a', 'small-2', { qos: 1, properties: { userProperties: { k: 'v' } } })
  await pub.publishAsync('ps/out/a', 'q0-big'.padEnd(400, '.'), { qos: 0 })
  await pub.publishAsync('ps/out/a', 'small-3', { qos: 1 })

  await waitFor(() => got.length === 5 && publishes(small).length >= 3, 5000, 'deliveries')
  await sleep(100)
  assert.deepEqual(publishes(small).map((p) => p.payload.toString()), ['small-1', 'small-2', 'small-3'])
  for (const p of small.received) {
    assert.ok(mqttPacket.generate(p, { protocolVersion: 5 }).length <= 200, `${p.cmd} fits in 200 bytes`)
  }
  assert.deepEqual(got.map((m) => m.payload.length), [7, 500, 7, 400, 7])
  assert.equal(await counterValue(node.metrics.messagesDropped, { reason: 'packet_too_large' }), 2)
  assert.equal(await counterValue(node.metrics.messagesSent, { qos: '1' }) - sentBefore, 7, '3 + 4 QoS 1 PUBLISH written')
  assert.equal(await counterValue(node.metrics.messagesSent, { qos: '0' }) - sent0Before, 1, 'the QoS 0 one only to the client without a limit')

  // the dropped QoS 1 message is not kept in the session either
  small.destroy()
  await small.waitClosed()
  const { client: again } = await rawMqttConnect(t, mqttPort, session)
  autoAck(again)
  await sleep(200)
  assert.deepEqual(publishes(again), [])
})

test('outbound: a SUBACK that would exceed the client\'s Maximum Packet Size is not sent', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const { client } = await rawMqttConnect(t, mqttPort, { clientId: 'ps-suback', properties: { maximumPacketSize: 64 } })
  const subscriptions = Array.from({ length: 80 }, (_, i) => ({ topic: `ps/s/${i}`, qos: 0 as const }))
  client.send({ cmd: 'subscribe', messageId: 7, subscriptions } as Packet)
  client.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: 'ps/s/one', qos: 0 }] } as Packet)
  const suback = await client.next('suback')
  assert.equal(suback.messageId, 8, 'the small SUBACK arrives, the oversized one does not')
  await sleep(100)
  assert.equal(client.received.filter((p) => p.cmd === 'suback').length, 1)
  assert.equal(client.closed, false)
})

test('outbound: an ack too large for the client loses its Reason String instead of being dropped', async (t) => {
  const { mqttPort } = await startTestNode(t, { acl: [{ action: 'publish', topic: 'ps/deny/#', allow: false }] })
  const publishDenied = (client: RawClient, messageId: number): void => {
    client.send({ cmd: 'publish', topic: 'ps/deny/x', payload: Buffer.from('x'), qos: 1, messageId, retain: false, dup: false } as Packet)
  }
  const { client: roomy } = await rawMqttConnect(t, mqttPort, { clientId: 'ps-ack-roomy' })
  publishDenied(roomy, 1)
  const full = await roomy.next('puback') as { reasonCode?: number, properties?: { reasonString?: string } }
  assert.equal(full.reasonCode, 0x87)
  assert.equal(typeof full.properties?.reasonString, 'string', 'the reason string is normally sent')

  const { client: tight } = await rawMqttConnect(t, mqttPort, { clientId: 'ps-ack-tight', properties: { maximumPacketSize: 24 } })
  publishDenied(tight, 2)
  const trimmed = await tight.next('puback') as { reasonCode?: number, properties?: { reasonString?: string } }
  assert.equal(trimmed.reasonCode, 0x87)
  assert.equal(trimmed.properties?.reasonString, undefined)
})
