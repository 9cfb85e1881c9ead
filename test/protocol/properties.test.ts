import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

test('v5 PUBLISH properties reach a v5 subscriber unchanged; a v3.1.1 subscriber gets the bare message [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-18] [MQTT-3.3.2-20]', async (t) => {
  const { url } = await startTestNode(t)
  const v5 = await connectClient(t, url, { protocolVersion: 5, clientId: 'pp-v5' })
  const v4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'pp-v4' })
  const got5 = collect(v5)
  const got4 = collect(v4)
  await v5.subscribeAsync('pp/#', { qos: 1 })
  await v4.subscribeAsync('pp/#', { qos: 1 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'pp-pub' })
  await pub.publishAsync('pp/req', '{"x":1}', {
    qos: 1,
    properties: {
      responseTopic: 'pp/reply/7',
      correlationData: Buffer.from([0, 1, 2, 255]),
      contentType: 'application/json',
      payloadFormatIndicator: true,
      messageExpiryInterval: 120,
      userProperties: { z: 'last-name-first', a: ['1', '2', '1'], m: 'mid' }
    }
  })
  await waitFor(() => got5.length === 1 && got4.length === 1)
  const props = got5[0]?.packet.properties
  assert.equal(props?.responseTopic, 'pp/reply/7')
  assert.deepEqual(props?.correlationData, Buffer.from([0, 1, 2, 255]))
  assert.equal(props?.contentType, 'application/json')
  assert.equal(props?.payloadFormatIndicator, true)
  const expiry = props?.messageExpiryInterval ?? 0
  assert.ok(expiry > 0 && expiry <= 120, `remaining lifetime ${expiry}`)
  // Order of names and duplicate values are kept [MQTT-3.3.2-17].
  const user = props?.userProperties ?? {}
  assert.deepEqual(Object.keys(user), ['z', 'a', 'm'])
  assert.deepEqual(user.a, ['1', '2', '1'])
  assert.equal(got5[0]?.payload.toString(), '{"x":1}')
  assert.equal(got4[0]?.payload.toString(), '{"x":1}')
  assert.equal(got4[0]?.packet.properties, undefined)
})

test('v5: a client may not send a Subscription Identifier in PUBLISH [MQTT-3.3.4-6]', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const { client } = await rawMqttConnect(t, mqttPort, { clientId: 'pp-si' })
  client.send({ cmd: 'publish', topic: 'pp/si', payload: 'x', qos: 0, retain: false, dup: false, properties: { subscriptionIdentifier: 3 } })
  const disconnect = await client.next('disconnect')
  assert.equal((disconnect as { reasonCode?: number }).reasonCode, 0x82)
  await client.waitClosed()
})

test('v5 Message Expiry: queued and retained messages are delivered with the remaining lifetime, not after expiry [MQTT-3.3.2-5] [MQTT-3.3.2-6]', async (t) => {
  const { url } = await startTestNode(t)
  const opts = persistentSession(5, 'mx-sess')
  const first = await connectClient(t, url, opts)
  await first.subscribeAsync('mx/q/#', { qos: 1 })
  await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))

  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'mx-pub' })
  await pub.publishAsync('mx/q/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
  await pub.publishAsync('mx/q/long', 'long', { qos: 1, properties: { messageExpiryInterval: 10 } })
  await pub.publishAsync('mx/r/short', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
  await pub.publishAsync('mx/r/long', 'long', { qos: 1, retain: true, properties: { messageExpiryInterval: 10 } })

  // While unexpired, a retained message is delivered with (at most) its remaining lifetime.
  const early = await connectClient(t, url, { protocolVersion: 5, clientId: 'mx-early' })
  const gotEarly = collect(early)
  await early.subscribeAsync('mx/r/#', { qos: 1 })
  await waitFor(() => gotEarly.length === 2)
  for (const m of gotEarly) assert.ok((m.packet.properties?.messageExpiryInterval ?? 0) <= 10)

  await sleep(1300)
  const got = resumeSession(t, url, opts)
  await waitFor(() => got.length >= 1)

  const late = await connectClient(t, url, { protocolVersion: 5, clientId: 'mx-late' })
  const gotLate = collect(late)
  await late.subscribeAsync('mx/r/#', { qos: 1 })
  await waitFor(() => gotLate.length >= 1)
  await sleep(100)

  assert.deepEqual(got.map((m) => m.topic), ['mx/q/long'])
  assert.ok((got[0]?.packet.properties?.messageExpiryInterval ?? 99) <= 9, 'queued: remaining lifetime')
  assert.deepEqual(gotLate.map((m) => m.topic), ['mx/r/long'])
  assert.ok((gotLate[0]?.packet.properties?.messageExpiryInterval ?? 99) <= 9, 'retained: remaining lifetime')
})
