import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IDisconnectPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet'
import { collect, connectClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

const INVALID = ['a/#/b', 'a+', '#/a', 'a/b#', '', '+a/b', 'a/+b']

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: + and # match levels, a/# matches a, + matches an empty level [MQTT-4.7.1-2] [MQTT-4.7.1-3]`, async (t) => {
    const { url } = await startTestNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `wc${protocolVersion}-pub` })
    const filters = ['w/#', 'w/+/c', '+/+', 'x/+']
    const byFilter = new Map<string, string[]>(filters.map((f) => [f, []]))
    const clients = await Promise.all(filters.map((f, i) => connectClient(t, url, { protocolVersion, clientId: `wc${protocolVersion}-${i}` })))
    for (const [i, c] of clients.entries()) {
      const f = filters[i] as string
      c.on('message', (topic) => byFilter.get(f)?.push(topic))
      await c.subscribeAsync(f, { qos: 1 })
    }
    const topics = ['w', 'w/b', 'w/b/c', 'w/b/d', 'x/', 'x', 'y/z']
    for (const topic of topics) await pub.publishAsync(topic, topic, { qos: 1 })
    await waitFor(() => byFilter.get('w/#')?.length === 4 && byFilter.get('+/+')?.length === 3)
    await sleep(100)
    assert.deepEqual(byFilter.get('w/#'), ['w', 'w/b', 'w/b/c', 'w/b/d'])
    assert.deepEqual(byFilter.get('w/+/c'), ['w/b/c'])
    assert.deepEqual(byFilter.get('+/+'), ['w/b', 'x/', 'y/z'])
    assert.deepEqual(byFilter.get('x/+'), ['x/'])
  })

  test(`v${protocolVersion}: $ topics are not matched by # or a leading + [MQTT-4.7.2-1], live and retained`, async (t) => {
    const { url } = await startTestNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `dl${protocolVersion}-pub` })
    await pub.publishAsync('$app/r', 'retained-dollar', { qos: 1, retain: true })
    await pub.publishAsync('plain/r', 'retained-plain', { qos: 1, retain: true })
    const wild = await connectClient(t, url, { protocolVersion, clientId: `dl${protocolVersion}-wild` })
    const explicit = await connectClient(t, url, { protocolVersion, clientId: `dl${protocolVersion}-explicit` })
    const gotWild = collect(wild)
    const gotExplicit = collect(explicit)
    await wild.subscribeAsync(['#', '+/r', '+/live'], { qos: 1 })
    await explicit.subscribeAsync('$app/#', { qos: 1 })
    await pub.publishAsync('$app/live', 'live-dollar', { qos: 1 })
    await pub.publishAsync('plain/live', 'live-plain', { qos: 1 })
    await waitFor(() => gotWild.length >= 2 && gotExplicit.length >= 2)
    await sleep(100)
    assert.deepEqual(gotWild.map((m) => m.payload.toString()), ['retained-plain', 'live-plain'])
    assert.deepEqual(gotExplicit.map((m) => m.payload.toString()), ['retained-dollar', 'live-dollar'])
  })

  test(`v${protocolVersion}: a session's offline queue skips $ topics for wildcard-first filters`, async (t) => {
    const { url } = await startTestNode(t)
    const opts = persistentSession(protocolVersion, `off${protocolVersion}`)
    const first = await connectClient(t, url, opts)
    await first.subscribeAsync('#', { qos: 1 })
    await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))
    const pub = await connectClient(t, url, { protocolVersion, clientId: `off${protocolVersion}-pub` })
    await pub.publishAsync('$app/x', 'dollar', { qos: 1 })
    await pub.publishAsync('app/x', 'plain', { qos: 1 })
    const got = resumeSession(t, url, opts)
    await waitFor(() => got.length >= 1)
    await sleep(150)
    assert.deepEqual(got.map((m) => m.topic), ['app/x'])
  })

  test(`v${protocolVersion}: an invalid filter is refused in its SUBACK entry; the rest works and the connection stays`, async (t) => {
    const { url, mqttPort } = await startTestNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `inv${protocolVersion}`, protocolVersion })
    client.send({
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [{ topic: 'ok/1', qos: 1 }, ...INVALID.map((topic) => ({ topic, qos: 1 as const })), { topic: 'ok/#', qos: 2 }]
    })
    const suback = await client.next<ISubackPacket>('suback')
    const refused = protocolVersion === 5 ? 0x8f : 0x80
    assert.deepEqual(suback.granted, [1, ...INVALID.map(() => refused), 2])
    const pub = await connectClient(t, url, { protocolVersion, clientId: `inv${protocolVersion}-pub` })
    await pub.publishAsync('ok/1', 'still-here', { qos: 1 })
    const msg = await client.next<IPublishPacket>('publish')
    assert.equal(msg.payload.toString(), 'still-here')
    assert.equal(client.closed, false)
  })
}

test('v5: a PUBLISH topic with a wildcard gets DISCONNECT 0x90 (Topic Name invalid)', async (t) => {
  const { mqttPort } = await startTestNode(t)
  for (const [i, topic] of ['a/+', 'a/#', '#'].entries()) {
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `tn5-${i}` })
    client.send({ cmd: 'publish', topic, payload: 'x', qos: 1, messageId: 1, retain: false, dup: false })
    const disconnect = await client.next<IDisconnectPacket>('disconnect')
    assert.equal(disconnect.reasonCode, 0x90)
    await client.waitClosed()
    assert.equal(client.received.some((p) => p.cmd === 'puback'), false)
  }
})

test('v3.1.1: a PUBLISH topic with a wildcard closes the connection [MQTT-3.3.2-2]', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const watcher = await connectClient(t, url, { protocolVersion: 4, clientId: 'tn4-watch' })
  const got = collect(watcher)
  await watcher.subscribeAsync('#', { qos: 0 })
  const { client } = await rawMqttConnect(t, mqttPort, { clientId: 'tn4', protocolVersion: 4 })
  client.send({ cmd: 'publish', topic: 'a/+', payload: 'x', qos: 0, retain: false, dup: false })
  await client.waitClosed()
  await sleep(50)
  assert.equal(got.length, 0)
  assert.equal(watcher.connected, true)
})
