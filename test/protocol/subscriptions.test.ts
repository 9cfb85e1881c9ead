import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import type { IUnsubackPacket, QoS } from 'mqtt-packet'
import { collect, connectClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

const sids = (props: unknown): number[] => {
  const si = (props as { subscriptionIdentifier?: number | number[] } | undefined)?.subscriptionIdentifier
  return si === undefined ? [] : ([] as number[]).concat(si).sort((a, b) => a - b)
}

for (const protocolVersion of [4, 5] as const) {
  // Each order puts a different filter first, so the result cannot depend on which one the
  // router calls first.
  const orders: Array<Array<[string, QoS]>> = [
    [['ov/+', 0], ['ov/#', 2], ['ov/a', 1]],
    [['ov/#', 2], ['ov/a', 1], ['ov/+', 0]],
    [['ov/a', 1], ['ov/+', 0], ['ov/#', 2]]
  ]
  test(`v${protocolVersion}: overlapping subscriptions deliver once at the highest QoS [MQTT-3.3.4-2]`, async (t) => {
    const { url } = await startTestNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `ov${protocolVersion}-pub` })
    for (const [i, order] of orders.entries()) {
      const sub = await connectClient(t, url, { protocolVersion, clientId: `ov${protocolVersion}-${i}` })
      const got = collect(sub)
      for (const [filter, qos] of order) await sub.subscribeAsync(filter, { qos })
      await pub.publishAsync('ov/a', 'q2', { qos: 2 })
      await pub.publishAsync('ov/a', 'q1', { qos: 1 })
      await pub.publishAsync('ov/b', 'b2', { qos: 2 }) // matches ov/+ (0) and ov/# (2)
      await waitFor(() => got.length >= 3)
      await sleep(100)
      assert.deepEqual(got.map((m) => [m.payload.toString(), m.packet.qos]), [['q2', 2], ['q1', 1], ['b2', 2]], `order ${i}`)
      sub.end(true)
    }
  })

  test(`v${protocolVersion}: a session's offline queue holds one copy per message at the highest matching QoS`, async (t) => {
    const { url } = await startTestNode(t)
    const cases: Array<{ id: string, subs: Record<string, { qos: QoS }>, qos: number }> = [
      { id: 'low', subs: { 'oq/#': { qos: 1 }, 'oq/+': { qos: 1 } }, qos: 1 },
      { id: 'high', subs: { 'oq/#': { qos: 1 }, 'oq/a': { qos: 2 } }, qos: 2 }
    ]
    const optsOf = (id: string): IClientOptions => persistentSession(protocolVersion, `oq${protocolVersion}-${id}`)
    for (const c of cases) {
      const first = await connectClient(t, url, optsOf(c.id))
      await first.subscribeAsync(c.subs)
      await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))
    }
    const pub = await connectClient(t, url, { protocolVersion, clientId: `oq${protocolVersion}-pub` })
    await pub.publishAsync('oq/a', 'x', { qos: 2 })
    for (const c of cases) {
      const got = resumeSession(t, url, optsOf(c.id))
      await waitFor(() => got.length >= 1)
      await sleep(150)
      assert.deepEqual(got.map((m) => m.packet.qos), [c.qos], c.id)
    }
  })

  test(`v${protocolVersion}: unsubscribe stops delivery and is acknowledged`, async (t) => {
    const { url } = await startTestNode(t)
    const sub = await connectClient(t, url, { protocolVersion, clientId: `un${protocolVersion}-sub` })
    const pub = await connectClient(t, url, { protocolVersion, clientId: `un${protocolVersion}-pub` })
    const got = collect(sub)
    await sub.subscribeAsync(['un/a', 'un/#'], { qos: 1 })
    await pub.publishAsync('un/a', 'before', { qos: 1 })
    await waitFor(() => got.length === 1)
    await sub.unsubscribeAsync('un/#')
    await pub.publishAsync('un/a', 'exact-only', { qos: 1 })
    await pub.publishAsync('un/b', 'not-any-more', { qos: 1 })
    await waitFor(() => got.length === 2)
    await sub.unsubscribeAsync('un/a')
    await pub.publishAsync('un/a', 'after', { qos: 1 })
    await sleep(150)
    assert.deepEqual(got.map((m) => m.payload.toString()), ['before', 'exact-only'])
  })
}

test('v5: one copy carries every matching Subscription Identifier [MQTT-3.3.4-4] [MQTT-3.3.4-5]', async (t) => {
  const { url } = await startTestNode(t)
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'si-sub' })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'si-pub' })
  const got = collect(sub)
  await sub.subscribeAsync('si/+', { qos: 1, properties: { subscriptionIdentifier: 7 } })
  await sub.subscribeAsync('si/#', { qos: 0, properties: { subscriptionIdentifier: 300 } })
  await sub.subscribeAsync('si/a', { qos: 0 }) // no identifier
  await sub.subscribeAsync('other/#', { qos: 0, properties: { subscriptionIdentifier: 9 } })
  await pub.publishAsync('si/a', 'all', { qos: 1, properties: { userProperties: { k: 'v' } } })
  await pub.publishAsync('si/a/b', 'hash-only', { qos: 1 })
  await waitFor(() => got.length >= 2)
  await sleep(100)
  assert.equal(got.length, 2)
  assert.deepEqual(sids(got[0]?.packet.properties), [7, 300])
  assert.equal(got[0]?.packet.qos, 1)
  assert.deepEqual({ ...got[0]?.packet.properties?.userProperties }, { k: 'v' })
  assert.deepEqual(sids(got[1]?.packet.properties), [300])
  assert.equal(got[1]?.packet.qos, 0)
})

test('v5: No Local drops only the subscriber\'s own messages, per subscription [MQTT-3.8.3-3]', async (t) => {
  const { url } = await startTestNode(t)
  const a = await connectClient(t, url, { protocolVersion: 5, clientId: 'nl-a' })
  const b = await connectClient(t, url, { protocolVersion: 5, clientId: 'nl-b' })
  const gotA = collect(a)
  const gotB = collect(b)
  await a.subscribeAsync('nl/#', { qos: 1, nl: true })
  await b.subscribeAsync('nl/#', { qos: 1, nl: true })
  await a.publishAsync('nl/x', 'from-a', { qos: 1 })
  await b.publishAsync('nl/x', 'from-b', { qos: 1 })
  await waitFor(() => gotA.length === 1 && gotB.length === 1)
  assert.equal(gotA[0]?.payload.toString(), 'from-b')
  assert.equal(gotB[0]?.payload.toString(), 'from-a')

  // A second, overlapping subscription without No Local still delivers own messages once.
  await a.subscribeAsync('nl/y', { qos: 0, properties: { subscriptionIdentifier: 4 } })
  await a.publishAsync('nl/y', 'own-y', { qos: 1 })
  await a.publishAsync('nl/z', 'own-z', { qos: 1 })
  await waitFor(() => gotA.length >= 2)
  await sleep(100)
  assert.deepEqual(gotA.map((m) => m.payload.toString()), ['from-b', 'own-y'])
  assert.equal(gotA[1]?.packet.qos, 0, 'only the No Local-free subscription counts')
  assert.deepEqual(sids(gotA[1]?.packet.properties), [4])
})

test('v5: Retain As Published keeps or clears the retain flag on live delivery [MQTT-3.3.1-12] [MQTT-3.3.1-13]', async (t) => {
  const { url } = await startTestNode(t)
  const keep = await connectClient(t, url, { protocolVersion: 5, clientId: 'rap-1' })
  const clear = await connectClient(t, url, { protocolVersion: 5, clientId: 'rap-0' })
  const v4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'rap-v4' })
  const gotKeep = collect(keep)
  const gotClear = collect(clear)
  const gotV4 = collect(v4)
  await keep.subscribeAsync('rap/#', { qos: 1, rap: true, rh: 2 })
  await clear.subscribeAsync('rap/#', { qos: 1, rap: false, rh: 2 })
  await v4.subscribeAsync('rap/#', { qos: 1 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rap-pub' })
  await pub.publishAsync('rap/t', 'r', { qos: 1, retain: true })
  await pub.publishAsync('rap/t', 'n', { qos: 1, retain: false })
  await waitFor(() => gotKeep.length === 2 && gotClear.length === 2 && gotV4.length === 2)
  assert.deepEqual(gotKeep.map((m) => m.packet.retain), [true, false])
  assert.deepEqual(gotClear.map((m) => m.packet.retain), [false, false])
  assert.deepEqual(gotV4.map((m) => m.packet.retain), [false, false], '3.1.1 [MQTT-3.3.1-9]')
})

test('UNSUBACK: v5 reason codes 0x00 / 0x11 per filter, v3.1.1 plain ack', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const v5 = await rawMqttConnect(t, mqttPort, { clientId: 'ua5' })
  v5.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ua/a', qos: 1 }] })
  await v5.client.next('suback')
  v5.client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['ua/a', 'ua/never'] })
  const ack5 = await v5.client.next<IUnsubackPacket & { granted?: number[] }>('unsuback')
  assert.equal(ack5.messageId, 2)
  assert.deepEqual(ack5.granted, [0x00, 0x11]) // mqtt-packet parses v5 UNSUBACK codes into `granted`

  const v4 = await rawMqttConnect(t, mqttPort, { clientId: 'ua4', protocolVersion: 4 })
  v4.client.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['ua/never'] })
  const ack4 = await v4.client.next<IUnsubackPacket>('unsuback')
  assert.equal(ack4.messageId, 3)
  assert.equal(v4.client.closed, false)
})
