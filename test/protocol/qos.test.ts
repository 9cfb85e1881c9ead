import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket, IPubrecPacket, IPubrelPacket, IPubcompPacket, IPubackPacket, QoS } from 'mqtt-packet'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

const QOS: QoS[] = [0, 1, 2]

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: every publish QoS reaches every subscription QoS at the minimum of both [MQTT-3.8.4-6]`, async (t) => {
    const { url } = await startTestNode(t)
    const subs = await Promise.all(QOS.map((qos) => connectClient(t, url, { protocolVersion, clientId: `q${protocolVersion}-sub${qos}` })))
    const got = subs.map((sub) => collect(sub))
    await Promise.all(subs.map((sub, qos) => sub.subscribeAsync('qos/t', { qos: qos as QoS })))
    const pub = await connectClient(t, url, { protocolVersion, clientId: `q${protocolVersion}-pub` })
    // publishAsync resolves on PUBACK (QoS 1) / PUBCOMP (QoS 2): the publisher → broker leg.
    for (const qos of QOS) await pub.publishAsync('qos/t', `m${qos}`, { qos })
    await waitFor(() => got.every((g) => g.length === 3), 5000, 'three messages per subscriber')
    for (const subQos of QOS) {
      const received = got[subQos] ?? []
      assert.deepEqual(received.map((m) => m.payload.toString()), ['m0', 'm1', 'm2'])
      assert.deepEqual(received.map((m) => m.packet.qos), QOS.map((pubQos) => Math.min(pubQos, subQos)), `subscription QoS ${subQos}`)
    }
  })

  test(`v${protocolVersion}: a wildcard subscription downgrades to its own QoS, not the topic's`, async (t) => {
    const { url } = await startTestNode(t)
    const hash = await connectClient(t, url, { protocolVersion, clientId: `w${protocolVersion}-hash` })
    const plus = await connectClient(t, url, { protocolVersion, clientId: `w${protocolVersion}-plus` })
    const gotHash = collect(hash)
    const gotPlus = collect(plus)
    await hash.subscribeAsync('dq/#', { qos: 1 })
    await plus.subscribeAsync('dq/+/x', { qos: 0 })
    const pub = await connectClient(t, url, { protocolVersion, clientId: `w${protocolVersion}-pub` })
    await pub.publishAsync('dq/a/x', 'two', { qos: 2 })
    await waitFor(() => gotHash.length === 1 && gotPlus.length === 1)
    assert.equal(gotHash[0]?.packet.qos, 1)
    assert.equal(gotPlus[0]?.packet.qos, 0)
  })
}

test('v5: PUBACK, PUBREC, PUBREL and PUBCOMP carry reason code 0x00 in both directions', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const sub = await rawMqttConnect(t, mqttPort, { clientId: 'rc-sub' })
  sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rc/#', qos: 2 }] })
  await sub.client.next('suback')
  const pub = await rawMqttConnect(t, mqttPort, { clientId: 'rc-pub' })

  pub.client.send({ cmd: 'publish', topic: 'rc/1', payload: 'one', qos: 1, messageId: 10, retain: false, dup: false })
  const puback = await pub.client.next<IPubackPacket>('puback', 5000, (p) => p.messageId === 10)
  assert.equal(puback.reasonCode, 0)

  pub.client.send({ cmd: 'publish', topic: 'rc/2', payload: 'two', qos: 2, messageId: 11, retain: false, dup: false })
  const pubrec = await pub.client.next<IPubrecPacket>('pubrec', 5000, (p) => p.messageId === 11)
  assert.equal(pubrec.reasonCode, 0)
  pub.client.send({ cmd: 'pubrel', messageId: 11 })
  const pubcomp = await pub.client.next<IPubcompPacket>('pubcomp', 5000, (p) => p.messageId === 11)
  assert.equal(pubcomp.reasonCode, 0)

  // broker → subscriber: QoS 1 then QoS 2, acknowledged by hand.
  const first = await sub.client.next<IPublishPacket>('publish', 5000, (p) => p.topic === 'rc/1')
  assert.equal(first.qos, 1)
  sub.client.send({ cmd: 'puback', messageId: first.messageId as number })
  const second = await sub.client.next<IPublishPacket>('publish', 5000, (p) => p.topic === 'rc/2')
  assert.equal(second.qos, 2)
  sub.client.send({ cmd: 'pubrec', messageId: second.messageId as number })
  const pubrel = await sub.client.next<IPubrelPacket>('pubrel', 5000, (p) => p.messageId === second.messageId)
  assert.equal(pubrel.reasonCode, 0)
  sub.client.send({ cmd: 'pubcomp', messageId: second.messageId as number })

  // The exchange left both connections usable.
  const check = await connectClient(t, url, { protocolVersion: 5, clientId: 'rc-check' })
  const got = collect(check)
  await check.subscribeAsync('rc/#', { qos: 1 })
  pub.client.send({ cmd: 'publish', topic: 'rc/3', payload: 'three', qos: 0, retain: false, dup: false })
  await waitFor(() => got.length === 1)
  await sub.client.next('publish', 5000, (p) => (p as IPublishPacket).topic === 'rc/3')
  assert.equal(sub.client.closed, false)
  assert.equal(pub.client.closed, false)
})

test('v3.1.1: QoS 2 from broker to a raw subscriber completes with PUBREL', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const sub = await rawMqttConnect(t, mqttPort, { clientId: 'rc4-sub', protocolVersion: 4 })
  sub.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'rc4/+', qos: 2 }] })
  await sub.client.next('suback')
  const pub = await rawMqttConnect(t, mqttPort, { clientId: 'rc4-pub', protocolVersion: 4 })
  pub.client.send({ cmd: 'publish', topic: 'rc4/a', payload: 'x', qos: 2, messageId: 5, retain: false, dup: false })
  await pub.client.next('pubrec')
  pub.client.send({ cmd: 'pubrel', messageId: 5 })
  await pub.client.next('pubcomp')
  const msg = await sub.client.next<IPublishPacket>('publish')
  assert.equal(msg.qos, 2)
  sub.client.send({ cmd: 'pubrec', messageId: msg.messageId as number })
  await sub.client.next('pubrel')
})
