import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket, Packet } from 'mqtt-packet'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'

// MQTT 5 §4.9 flow control: the broker never has more unacknowledged QoS 1/2 PUBLISH packets in
// flight to a client than the client's Receive Maximum [MQTT-3.3.4-7..9], and a client that sends
// more than the broker's Receive Maximum gets DISCONNECT 0x93.

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

function payloads (client: RawClient): string[] {
  return publishes(client).map((p) => p.payload.toString())
}

async function subscribe (client: RawClient, topic: string, qos: 0 | 1 | 2): Promise<void> {
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet)
  await client.next('suback')
}

function ack (client: RawClient, packet: IPublishPacket): void {
  client.send({ cmd: 'puback', messageId: packet.messageId } as Packet)
}

test('receiveMaximum 2: exactly two unacked messages arrive; each PUBACK releases the next, in order', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'fc-sub', properties: { receiveMaximum: 2 } })
  await subscribe(sub, 'fc/a', 1)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync('fc/a', `m${i}`, { qos: 1 })

  await waitFor(() => publishes(sub).length >= 2, 5000, 'first two messages')
  await sleep(200)
  assert.deepEqual(payloads(sub), ['m0', 'm1'])

  ack(sub, publishes(sub)[0]!)
  await waitFor(() => publishes(sub).length >= 3, 5000, 'third message')
  await sleep(100)
  assert.deepEqual(payloads(sub), ['m0', 'm1', 'm2'])

  for (let i = 1; i < 5; i++) {
    ack(sub, publishes(sub)[i]!)
    await waitFor(() => publishes(sub).length >= Math.min(i + 3, 5), 5000, `message after ack ${i}`)
  }
  await sleep(100)
  assert.deepEqual(payloads(sub), ['m0', 'm1', 'm2', 'm3', 'm4'])
})

test('receiveMaximum 5: 50 messages all arrive in order and never more than 5 are in flight', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'fc-sub50', properties: { receiveMaximum: 5 } })
  await subscribe(sub, 'fc/b', 1)
  const inflight = new Set<number>()
  let maxInflight = 0
  sub.onPacket = (packet) => {
    if (packet.cmd !== 'publish') return
    const id = packet.messageId ?? 0
    inflight.add(id)
    maxInflight = Math.max(maxInflight, inflight.size)
    // acknowledge a little later so the window really fills up
    setTimeout(() => {
      inflight.delete(id)
      sub.send({ cmd: 'puback', messageId: id } as Packet)
    }, 2)
  }
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-pub50' })
  await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publishAsync('fc/b', `m${i}`, { qos: 1 })))
  await waitFor(() => publishes(sub).length >= 50, 10000, '50 messages')
  assert.deepEqual(payloads(sub), Array.from({ length: 50 }, (_, i) => `m${i}`))
  assert.ok(maxInflight <= 5, `at most 5 in flight, saw ${maxInflight}`)
  assert.equal(maxInflight, 5)
})

test('QoS 2 holds its slot until PUBCOMP; a PUBREC with reason >= 0x80 frees it', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'fc-q2', properties: { receiveMaximum: 1 } })
  await subscribe(sub, 'fc/q2', 2)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-q2pub' })
  for (let i = 0; i < 3; i++) await pub.publishAsync('fc/q2', `m${i}`, { qos: 2 })

  await waitFor(() => publishes(sub).length >= 1, 5000, 'first message')
  const first = publishes(sub)[0]!
  sub.send({ cmd: 'pubrec', messageId: first.messageId } as Packet)
  await sub.next('pubrel')
  await sleep(150)
  assert.deepEqual(payloads(sub), ['m0'], 'PUBREC alone does not free the slot')
  sub.send({ cmd: 'pubcomp', messageId: first.messageId } as Packet)
  await waitFor(() => publishes(sub).length >= 2, 5000, 'second message')

  const second = publishes(sub)[1]!
  sub.send({ cmd: 'pubrec', messageId: second.messageId, reasonCode: 0x80 } as Packet)
  await waitFor(() => publishes(sub).length >= 3, 5000, 'third message')
  assert.deepEqual(payloads(sub), ['m0', 'm1', 'm2'])
})

test('a persistent session keeps messages waiting for the window across a reconnect, without loss or duplicates', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const session = { clientId: 'fc-persist', clean: false, properties: { receiveMaximum: 2, sessionExpiryInterval: 300 } }
  const { client: first } = await rawMqttConnect(t, mqttPort, session)
  await subscribe(first, 'fc/p', 1)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-ppub' })
  for (let i = 0; i < 6; i++) await pub.publishAsync('fc/p', `m${i}`, { qos: 1 })
  await waitFor(() => publishes(first).length >= 2, 5000, 'first window')
  ack(first, publishes(first)[0]!) // m0 done; m1 stays unacknowledged
  await waitFor(() => publishes(first).length >= 3, 5000, 'm2')
  first.destroy()
  await first.waitClosed()

  const { client: second, connack } = await rawMqttConnect(t, mqttPort, { ...session, clean: false })
  assert.equal((connack as { sessionPresent?: boolean }).sessionPresent, true)
  const ackLater = (packet: Packet): void => {
    if (packet.cmd === 'publish') setTimeout(() => second.send({ cmd: 'puback', messageId: packet.messageId } as Packet), 2)
  }
  second.onPacket = ackLater
  second.received.forEach(ackLater) // replay may have arrived together with the CONNACK
  await waitFor(() => publishes(second).length >= 5, 5000, 'replayed messages')
  await sleep(200)
  assert.deepEqual(payloads(second), ['m1', 'm2', 'm3', 'm4', 'm5'])
})

test('MQTT 3.1.1 and 5 mqtt.js clients receive 50 QoS 1 messages in order', async (t) => {
  const { url } = await startTestNode(t)
  const sub4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'fc-v4' })
  const sub5 = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-v5', properties: { receiveMaximum: 3 } })
  const got4 = collect(sub4)
  const got5 = collect(sub5)
  await sub4.subscribeAsync('fc/m', { qos: 1 })
  await sub5.subscribeAsync('fc/m', { qos: 1 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-mpub' })
  await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publishAsync('fc/m', `m${i}`, { qos: 1 })))
  await waitFor(() => got4.length >= 50 && got5.length >= 50, 10000, '50 messages each')
  const expected = Array.from({ length: 50 }, (_, i) => `m${i}`)
  assert.deepEqual(got4.map((m) => m.payload.toString()), expected)
  assert.deepEqual(got5.map((m) => m.payload.toString()), expected)
})

test('inbound: more unanswered QoS 2 publishes than limits.receiveMaximum gets DISCONNECT 0x93', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.receiveMaximum': 3 })
  const { client, connack } = await rawMqttConnect(t, mqttPort, { clientId: 'fc-in' })
  assert.equal((connack as { properties?: { receiveMaximum?: number } }).properties?.receiveMaximum, 3)
  for (let i = 1; i <= 3; i++) {
    client.send({ cmd: 'publish', topic: 'fc/in', payload: Buffer.from(`m${i}`), qos: 2, messageId: i, retain: false, dup: false } as Packet)
  }
  await waitFor(() => client.received.filter((p) => p.cmd === 'pubrec').length === 3, 5000, 'three PUBRECs')
  // a PUBREL -> PUBCOMP frees one slot, so one more is fine
  client.send({ cmd: 'pubrel', messageId: 1 } as Packet)
  await client.next('pubcomp')
  client.send({ cmd: 'publish', topic: 'fc/in', payload: Buffer.from('m4'), qos: 2, messageId: 4, retain: false, dup: false } as Packet)
  await waitFor(() => client.received.filter((p) => p.cmd === 'pubrec').length === 4, 5000, 'fourth PUBREC')
  assert.equal(client.closed, false)
  // the fourth unanswered one is too many
  client.send({ cmd: 'publish', topic: 'fc/in', payload: Buffer.from('m5'), qos: 2, messageId: 5, retain: false, dup: false } as Packet)
  const disconnect = await client.next('disconnect')
  assert.equal((disconnect as { reasonCode?: number }).reasonCode, 0x93)
  await client.waitClosed()
})

test('inbound: QoS 1 publishes answered at once never count against receiveMaximum', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.receiveMaximum': 3 })
  const { client } = await rawMqttConnect(t, mqttPort, { clientId: 'fc-in1' })
  const burst = Array.from({ length: 20 }, (_, i) => ({ cmd: 'publish', topic: 'fc/in1', payload: Buffer.from(`m${i}`), qos: 1, messageId: i + 1, retain: false, dup: false }) as Packet)
  for (const p of burst) client.send(p)
  await waitFor(() => client.received.filter((p) => p.cmd === 'puback').length === 20, 5000, '20 PUBACKs')
  assert.equal(client.received.some((p) => p.cmd === 'disconnect'), false)
  assert.equal(client.closed, false)
})

test('messages waiting for the window are bounded by limits.maxQueuedMessages; the excess is dropped and counted', async (t) => {
  const { url, mqttPort, node } = await startTestNode(t, { 'limits.maxQueuedMessages': 3 })
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'fc-bound', properties: { receiveMaximum: 1 } })
  await subscribe(sub, 'fc/bound', 1)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'fc-bpub' })
  for (let i = 0; i < 6; i++) await pub.publishAsync('fc/bound', `m${i}`, { qos: 1 })
  await waitFor(() => publishes(sub).length >= 1, 5000, 'first message')
  sub.onPacket = (packet) => { if (packet.cmd === 'publish') sub.send({ cmd: 'puback', messageId: packet.messageId } as Packet) }
  ack(sub, publishes(sub)[0]!)
  await waitFor(() => publishes(sub).length >= 4, 5000, 'the queued messages')
  await sleep(150)
  assert.deepEqual(payloads(sub), ['m0', 'm1', 'm2', 'm3'])
  const { values } = await node.metrics.messagesDropped.get()
  assert.equal(values.find((v) => v.labels.reason === 'queue_full')?.value, 2)
})
