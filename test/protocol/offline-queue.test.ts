import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import mqtt, { type IClientOptions } from 'mqtt'
import type { StarlingNode } from '../../src/node.js'
import { collect, connectClient, endClient, sleep, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

/** Connects with a message collector attached before CONNACK, so queued messages are not missed. */
async function reconnect (t: TestContext, url: string, options: IClientOptions): Promise<{ client: MqttClient, got: Received[], sessionPresent: boolean }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t.after(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  const got = wireOrder(client)
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { client, got, sessionPresent: connack.sessionPresent }
}

/**
 * PUBLISH packets in the order they came off the wire (mqtt.js emits a QoS 2 message only at
 * PUBREL, so its 'message' events are not in wire order).
 */
function wireOrder (client: MqttClient): Received[] {
  const out: Received[] = []
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'publish') out.push({ topic: packet.topic, payload: Buffer.from(packet.payload), packet })
  })
  return out
}

function gone (node: StarlingNode, clientId: string): Promise<void> {
  return waitFor(() => node.broker.clients[clientId] === undefined, 3000, `${clientId} gone`)
}

async function offlineSubscriber (t: TestContext, url: string, node: StarlingNode, options: IClientOptions, filter: string): Promise<void> {
  const sub = await connectClient(t, url, { clean: false, ...options })
  await sub.subscribeAsync(filter, { qos: 2 })
  await endClient(sub)
  await gone(node, options.clientId as string)
}

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: QoS 1/2 queued offline arrive in order on reconnect, then live ones; QoS 0 is not queued`, async (t) => {
    const { url, node } = await startTestNode(t)
    const options: IClientOptions = { protocolVersion, clientId: `q-${protocolVersion}`, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) }
    await offlineSubscriber(t, url, node, options, 'q/#')

    const pub = await connectClient(t, url, { protocolVersion: 5, clientId: `q-pub-${protocolVersion}` })
    const sent: string[] = []
    for (let i = 0; i < 10; i++) {
      const qos = i % 2 === 0 ? 1 : 2
      await pub.publishAsync('q/a', `m${i}`, { qos })
      sent.push(`m${i}`)
      await pub.publishAsync('q/zero', `z${i}`, { qos: 0 })
    }

    const { client, got, sessionPresent } = await reconnect(t, url, { ...options, clean: false })
    assert.equal(sessionPresent, true)
    await waitFor(() => got.length >= sent.length, 3000, 'queued messages')
    await pub.publishAsync('q/a', 'live', { qos: 1 })
    await waitFor(() => got.some((m) => m.payload.toString() === 'live'), 3000, 'live message')
    await sleep(100)
    assert.deepEqual(got.map((m) => m.payload.toString()), [...sent, 'live'])
    assert.deepEqual(got.slice(0, 10).map((m) => m.packet.qos), [1, 2, 1, 2, 1, 2, 1, 2, 1, 2])
    await endClient(client)
  })
}

test('messages published while a session reconnects are neither lost, reordered nor duplicated (QoS 2)', async (t) => {
  const { url, node } = await startTestNode(t)
  const options: IClientOptions = { protocolVersion: 5, clientId: 'q-race', properties: { sessionExpiryInterval: 60 } }
  await offlineSubscriber(t, url, node, options, 'race/#')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'q-race-pub' })
  const total = 150
  let published = 0
  const publishing = (async () => {
    for (; published < total; published++) await pub.publishAsync('race/x', String(published), { qos: 2 })
  })()
  await waitFor(() => published >= 30, 5000, 'first publishes')
  const { got } = await reconnect(t, url, { ...options, clean: false })
  await publishing
  await waitFor(() => got.length >= total, 5000, `all ${total} messages`)
  await sleep(100)
  assert.deepEqual(got.map((m) => Number(m.payload.toString())), Array.from({ length: total }, (_, i) => i))
})

test('limits.maxQueuedMessages caps the queue: later messages are dropped, counted and logged; the session stays usable', async (t) => {
  const { url, node, logs, httpPort } = await startTestNode(t, { 'limits.maxQueuedMessages': 3 })
  const options: IClientOptions = { protocolVersion: 5, clientId: 'q-cap', properties: { sessionExpiryInterval: 60 } }
  await offlineSubscriber(t, url, node, options, 'cap/#')
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'q-cap-pub' })
  for (let i = 0; i < 6; i++) await pub.publishAsync('cap/a', `m${i}`, { qos: 1 })

  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  assert.match(metrics, /starling_messages_dropped_total\{reason="queue_full"[^}]*\} 3/)
  const line = logs.find(/queue full/)
  assert.ok(line, 'a log line about the full queue')
  assert.equal(line.clientId, 'q-cap')
  assert.equal(line.code, 'STARLING_ERR_QUEUE_FULL')
  assert.ok(!JSON.stringify(logs.lines).includes('m5'), 'no payloads in logs')

  const { client, got } = await reconnect(t, url, { ...options, clean: false })
  await waitFor(() => got.length >= 3, 3000, 'queued messages')
  await pub.publishAsync('cap/a', 'live', { qos: 1 })
  await waitFor(() => got.length >= 4, 3000, 'live message')
  assert.deepEqual(got.map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'live'])
  await client.subscribeAsync('cap2/#', { qos: 1 })
})

test('a full queue does not break a connected persistent session that never acknowledges', async (t) => {
  const { url, mqttPort } = await startTestNode(t, { 'limits.maxQueuedMessages': 2 })
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'q-slow', clean: false, properties: { sessionExpiryInterval: 60 } })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'slow/#', qos: 1 }] })
  await sub.next('suback')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'q-slow-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync('slow/a', `m${i}`, { qos: 1 })
  await waitFor(() => sub.received.filter((p) => p.cmd === 'publish').length >= 5, 3000, 'live delivery beyond the cap')
  await sleep(100)
  assert.equal(sub.closed, false, 'still connected')
  assert.equal(sub.received.some((p) => p.cmd === 'disconnect'), false)
})

test('v5: queued messages whose Message Expiry Interval elapsed are not delivered; others carry the remaining time', async (t) => {
  const { url, node } = await startTestNode(t)
  const options: IClientOptions = { protocolVersion: 5, clientId: 'q-exp', properties: { sessionExpiryInterval: 60 } }
  await offlineSubscriber(t, url, node, options, 'exp/#')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'q-exp-pub' })
  await pub.publishAsync('exp/a', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
  await pub.publishAsync('exp/a', 'long', { qos: 1, properties: { messageExpiryInterval: 60 } })
  await pub.publishAsync('exp/a', 'forever', { qos: 2 })
  await sleep(1200)
  const { got } = await reconnect(t, url, { ...options, clean: false })
  await waitFor(() => got.length >= 2, 3000, 'unexpired messages')
  await sleep(100)
  assert.deepEqual(got.map((m) => m.payload.toString()), ['long', 'forever'])
  const remaining = got[0]?.packet.properties?.messageExpiryInterval ?? 0
  assert.ok(remaining > 0 && remaining <= 59, `remaining expiry ${remaining}`)
})
