import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import type { IPublishPacket } from 'mqtt-packet'
import { collect, connectClient, endClient, sleep, waitFor, type Received } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

const will = (topic: string, extra: Record<string, unknown> = {}): IClientOptions['will'] =>
  ({ topic, payload: Buffer.from('bye'), qos: 1, retain: false, ...extra }) as IClientOptions['will']

async function watch (t: TestContext, url: string, filter: string, protocolVersion: 4 | 5 = 5): Promise<Received[]> {
  const watcher = await connectClient(t, url, { protocolVersion, clientId: `watch-${filter.replace(/\W/g, '')}-${protocolVersion}` })
  const got = collect(watcher)
  await watcher.subscribeAsync(filter, { qos: 1 })
  return got
}

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: the will is published when the socket is destroyed, not on a normal DISCONNECT`, async (t) => {
    const { url } = await startTestNode(t)
    const got = await watch(t, url, 'will/#')
    const dying = await connectClient(t, url, { protocolVersion, clientId: `dying-${protocolVersion}`, will: will('will/dying') })
    const leaving = await connectClient(t, url, { protocolVersion, clientId: `leaving-${protocolVersion}`, will: will('will/leaving') })
    await endClient(leaving)
    dying.stream.destroy()
    await waitFor(() => got.length === 1, 3000, 'will after socket destroyed')
    await sleep(200)
    assert.deepEqual(got.map((m) => m.topic), ['will/dying'])
    assert.equal(got[0]?.payload.toString(), 'bye')
  })
}

test('the will is published on keep-alive timeout and on a protocol error', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const got = await watch(t, url, 'will/#')
  const silent = await rawMqttConnect(t, mqttPort, { clientId: 'silent', keepalive: 1, will: { topic: 'will/keepalive', payload: Buffer.from('ka'), qos: 0, retain: false } })
  assert.equal((silent.connack as { reasonCode?: number }).reasonCode, 0)
  const rude = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'rude', will: { topic: 'will/protocol', payload: Buffer.from('pe'), qos: 0, retain: false } })
  rude.client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'rude' }) // second CONNECT [MQTT-3.1.0-2]
  await waitFor(() => got.some((m) => m.topic === 'will/protocol'), 3000, 'will after protocol error')
  await rude.client.waitClosed()
  await waitFor(() => got.some((m) => m.topic === 'will/keepalive'), 4000, 'will after keep-alive timeout')
  await silent.client.waitClosed()
})

test('v5: DISCONNECT 0x04 publishes the will; QoS and retain are honoured', async (t) => {
  const { url } = await startTestNode(t)
  const got = await watch(t, url, 'will/#')
  const client = await connectClient(t, url, { protocolVersion: 5, clientId: 'with-will', will: will('will/04', { qos: 2, retain: true }) })
  await endClient(client, { reasonCode: 0x04 })
  await waitFor(() => got.length === 1, 3000, 'will after 0x04')
  assert.equal(got[0]?.packet.qos, 1, 'delivered at the subscription QoS')
  const late = await connectClient(t, url, { protocolVersion: 4, clientId: 'late' })
  const retained = collect(late)
  await late.subscribeAsync('will/04', { qos: 2 })
  await waitFor(() => retained.length === 1, 3000, 'retained will')
  assert.equal(retained[0]?.packet.retain, true)
  assert.equal(retained[0]?.packet.qos, 2)
})

test('v5 will properties reach v5 subscribers (without Will Delay Interval) and the will reaches v3.1.1 subscribers', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const got5 = await watch(t, url, 'will/props', 5)
  const got4 = await watch(t, url, 'will/props', 4)
  const raw = await rawMqttConnect(t, mqttPort, { clientId: 'raw-watch', protocolVersion: 5 })
  raw.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'will/props', qos: 1 }] })
  await raw.client.next('suback')
  const properties = {
    willDelayInterval: 0,
    contentType: 'text/plain',
    responseTopic: 'reply/here',
    correlationData: Buffer.from('corr-1'),
    userProperties: { site: 'lab' },
    messageExpiryInterval: 120,
    payloadFormatIndicator: true
  }
  const client = await connectClient(t, url, { protocolVersion: 5, clientId: 'props', will: will('will/props', { properties }) })
  client.stream.destroy()
  await waitFor(() => got5.length === 1 && got4.length === 1, 3000, 'wills on both protocols')
  const p = got5[0]?.packet.properties
  assert.equal(p?.contentType, 'text/plain')
  assert.equal(p?.responseTopic, 'reply/here')
  assert.equal(Buffer.from(p?.correlationData ?? []).toString(), 'corr-1')
  assert.deepEqual({ ...p?.userProperties }, { site: 'lab' })
  assert.ok((p?.messageExpiryInterval ?? 0) > 0 && (p?.messageExpiryInterval ?? 0) <= 120)
  assert.equal(p?.payloadFormatIndicator, true)
  assert.equal(got4[0]?.payload.toString(), 'bye')
  const wire = await raw.client.next<IPublishPacket>('publish')
  assert.equal((wire.properties as Record<string, unknown> | undefined)?.willDelayInterval, undefined, 'Will Delay Interval is not a PUBLISH property')
})

test('v5 Will Delay Interval: published after the delay, not at all after a reconnect within it [MQTT-3.1.3-9]', async (t) => {
  const { url } = await startTestNode(t)
  const got = await watch(t, url, 'will/#')
  const session = { properties: { sessionExpiryInterval: 60 } }
  const delayed = await connectClient(t, url, { protocolVersion: 5, clientId: 'delayed', ...session, will: will('will/delayed', { properties: { willDelayInterval: 1 } }) })
  const back = await connectClient(t, url, { protocolVersion: 5, clientId: 'back', ...session, will: will('will/back', { properties: { willDelayInterval: 1 } }) })
  const started = Date.now()
  delayed.stream.destroy()
  back.stream.destroy()
  await sleep(300)
  assert.equal(got.length, 0, 'not before the delay')
  await connectClient(t, url, { protocolVersion: 5, clientId: 'back', clean: false, ...session })
  await waitFor(() => got.length >= 1, 3000, 'delayed will')
  assert.ok(Date.now() - started >= 900, 'after about one second')
  await sleep(500)
  assert.deepEqual(got.map((m) => m.topic), ['will/delayed'])
})

test('v5: the will is published no later than the session expires', async (t) => {
  const { url } = await startTestNode(t)
  const got = await watch(t, url, 'will/#')
  const short = await connectClient(t, url, { protocolVersion: 5, clientId: 'short', properties: { sessionExpiryInterval: 1 }, will: will('will/short', { properties: { willDelayInterval: 30 } }) })
  const ephemeral = await connectClient(t, url, { protocolVersion: 5, clientId: 'ephemeral', will: will('will/ephemeral', { properties: { willDelayInterval: 30 } }) })
  const started = Date.now()
  short.stream.destroy()
  ephemeral.stream.destroy()
  await waitFor(() => got.some((m) => m.topic === 'will/ephemeral'), 1000, 'will of a session that ends with the connection')
  await waitFor(() => got.some((m) => m.topic === 'will/short'), 3000, 'will at session expiry')
  assert.ok(Date.now() - started < 2500)
})
