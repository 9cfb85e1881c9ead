import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import type { ISubackPacket } from 'mqtt-packet'
import { collect, connectClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

const ACL = {
  acl: [
    { action: 'subscribe', topic: 'secret/#', allow: false },
    { action: 'publish', topic: 'readonly/+', allow: false }
  ]
}

async function aclNode (t: TestContext): Promise<Awaited<ReturnType<typeof startTestNode>>> {
  return await startTestNode(t, ACL)
}

const will = (topic: string): IClientOptions['will'] => ({ topic, payload: Buffer.from('bye'), qos: 1, retain: false }) as IClientOptions['will']

for (const protocolVersion of [4, 5] as const) {
  const refused = protocolVersion === 5 ? 0x87 : 0x80
  const v = `v${protocolVersion}`

  test(`${v}: broad filters are granted beside a deny rule; only filters that can match no allowed topic are refused (0x${refused.toString(16)})`, async (t) => {
    const { url, mqttPort } = await aclNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `as${protocolVersion}`, protocolVersion })
    const filters = ['secret/a', 'public/#', '#', '+/x', 'secret/#', 'public/+/x', '+/+']
    client.send({ cmd: 'subscribe', messageId: 3, subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })) })
    const suback = await client.next<ISubackPacket>('suback')
    assert.deepEqual(suback.granted, [refused, 1, 1, 1, refused, 1, 1])
    client.onPacket = (p) => { if (p.cmd === 'publish' && p.messageId !== undefined) client.send({ cmd: 'puback', messageId: p.messageId }) }
    const pub = await connectClient(t, url, { protocolVersion, clientId: `as${protocolVersion}-pub` })
    await pub.publishAsync('secret/x', 'hidden', { qos: 1 })
    await pub.publishAsync('public/x', 'open', { qos: 1 })
    await pub.publishAsync('secret', 'hidden', { qos: 0 })
    await pub.publishAsync('a/b', 'open', { qos: 0 })
    await waitFor(() => client.received.filter((p) => p.cmd === 'publish').length >= 2)
    await sleep(100)
    assert.deepEqual(client.received.filter((p) => p.cmd === 'publish').map((p) => (p as { topic: string }).topic), ['public/x', 'a/b'])
    assert.equal(client.closed, false)
  })

  test(`${v}: a # subscriber never receives a denied topic: retained, live, and offline-queued on a persistent session`, async (t) => {
    const { url, httpPort } = await aclNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `ar${protocolVersion}-pub` })
    await pub.publishAsync('secret/kept', 'hidden', { qos: 1, retain: true })
    await pub.publishAsync('public/kept', 'shown', { qos: 1, retain: true })
    const opts = persistentSession(protocolVersion, `ar${protocolVersion}`)
    const first = await connectClient(t, url, opts)
    const retained = collect(first)
    const granted = await first.subscribeAsync('#', { qos: 1 })
    assert.deepEqual(granted.map((g) => g.qos), [1])
    await waitFor(() => retained.length >= 1)
    await pub.publishAsync('secret/live', 'hidden', { qos: 1 })
    await pub.publishAsync('public/live', 'shown', { qos: 1 })
    await waitFor(() => retained.length >= 2)
    await sleep(100)
    assert.deepEqual(retained.map((m) => m.topic), ['public/kept', 'public/live'])

    await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))
    await pub.publishAsync('secret/queued', 'hidden', { qos: 1 })
    await pub.publishAsync('public/queued', 'shown', { qos: 1 })
    const got = resumeSession(t, url, opts)
    await waitFor(() => got.length >= 1)
    await sleep(150)
    assert.deepEqual(got.map((m) => m.topic), ['public/queued'])
    // Retained and live: each refused at delivery and counted; the denied message for the offline
    // session was never queued for it (README "Access control", offline queues).
    assert.equal(value(await scrape(httpPort), 'starling_messages_dropped_total', { reason: 'acl' }), 2)
  })

  test(`${v}: a $share/g/# member never receives a denied topic, and its window does not stall on one`, async (t) => {
    const { url } = await startTestNode(t, { ...ACL, 'share.inflightPerMember': 1 })
    const member = await connectClient(t, url, { protocolVersion, clientId: `ag${protocolVersion}` })
    const got = collect(member)
    await member.subscribeAsync('$share/g/#', { qos: 1 })
    const pub = await connectClient(t, url, { protocolVersion, clientId: `ag${protocolVersion}-pub` })
    for (let i = 0; i < 3; i++) await pub.publishAsync(`secret/${i}`, 'hidden', { qos: 1 })
    for (let i = 0; i < 3; i++) await pub.publishAsync(`public/${i}`, 'shown', { qos: 1 })
    await waitFor(() => got.length >= 3, 5000, 'three group messages')
    await sleep(100)
    assert.deepEqual(got.map((m) => m.topic), ['public/0', 'public/1', 'public/2'])
  })

  test(`${v}: a will on a denied topic is not delivered to a # subscriber`, async (t) => {
    const { url } = await aclNode(t)
    const watcher = await connectClient(t, url, { protocolVersion, clientId: `aw${protocolVersion}-watch` })
    const got = collect(watcher)
    await watcher.subscribeAsync('#', { qos: 1 })
    const hidden = await connectClient(t, url, { protocolVersion, clientId: `aw${protocolVersion}-s`, will: will('secret/will') })
    const shown = await connectClient(t, url, { protocolVersion, clientId: `aw${protocolVersion}-o`, will: will('public/will') })
    hidden.stream.destroy()
    await sleep(100)
    shown.stream.destroy()
    await waitFor(() => got.length >= 1, 3000, 'the allowed will')
    await sleep(150)
    assert.deepEqual(got.map((m) => m.topic), ['public/will'])
  })

  test(`${v}: deny rules cover $-topics: a deny-all ACL refuses $foo/bar; a deny on +/bar filters $foo/bar at delivery`, async (t) => {
    const denyAll = await startTestNode(t, { acl: [{ action: 'all', topic: '#', allow: false }] })
    const { client } = await rawMqttConnect(t, denyAll.mqttPort, { clientId: `ad${protocolVersion}`, protocolVersion })
    client.send({ cmd: 'subscribe', messageId: 4, subscriptions: ['$foo/bar', '$foo/#', '#'].map((topic) => ({ topic, qos: 1 as const })) })
    assert.deepEqual((await client.next<ISubackPacket>('suback')).granted, [refused, refused, refused])
    if (protocolVersion === 5) {
      const pub = await connectClient(t, denyAll.url, { protocolVersion, clientId: `ad${protocolVersion}-pub` })
      await assert.rejects(pub.publishAsync('$foo/bar', 'x', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
    }

    const partial = await startTestNode(t, { acl: [{ action: 'subscribe', topic: '+/bar', allow: false }] })
    const sub = await connectClient(t, partial.url, { protocolVersion, clientId: `ad${protocolVersion}-sub` })
    const got = collect(sub)
    await sub.subscribeAsync('$foo/#', { qos: 1 })
    const pub = await connectClient(t, partial.url, { protocolVersion, clientId: `ad${protocolVersion}-pub2` })
    await pub.publishAsync('$foo/bar', 'hidden', { qos: 1 })
    await pub.publishAsync('$foo/baz', 'shown', { qos: 1 })
    await waitFor(() => got.length >= 1)
    await sleep(100)
    assert.deepEqual(got.map((m) => m.topic), ['$foo/baz'])
  })

  test(`${v}: allow # then deny $SYS/#: subscribing $SYS/# is refused, # granted`, async (t) => {
    const { mqttPort } = await startTestNode(t, { acl: [{ action: 'subscribe', topic: '#', allow: true }, { action: 'subscribe', topic: '$SYS/#', allow: false }] })
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `asys${protocolVersion}`, protocolVersion })
    client.send({ cmd: 'subscribe', messageId: 5, subscriptions: ['$SYS/#', '$SYS/+/heartbeat', '#'].map((topic) => ({ topic, qos: 0 as const })) })
    assert.deepEqual((await client.next<ISubackPacket>('suback')).granted, [refused, refused, 0])
  })

  test(`${v}: a refused subscription of a persistent session queues nothing offline`, async (t) => {
    const { url } = await aclNode(t)
    const opts = persistentSession(protocolVersion, `ap${protocolVersion}`)
    const first = await connectClient(t, url, opts)
    await first.subscribeAsync(['secret/x', 'open/x'], { qos: 1 }).catch(() => undefined) // mqtt.js rejects on any refused entry
    await new Promise<void>((resolve) => first.end(false, {}, () => resolve()))
    const pub = await connectClient(t, url, { protocolVersion, clientId: `ap${protocolVersion}-pub` })
    await pub.publishAsync('secret/x', 'hidden', { qos: 1 })
    await pub.publishAsync('open/x', 'open', { qos: 1 })
    const got = resumeSession(t, url, opts)
    await waitFor(() => got.length >= 1)
    await sleep(150)
    assert.deepEqual(got.map((m) => m.topic), ['open/x'])
  })
}

test('v3.1.1: a refused publish is acknowledged positively and dropped; the connection stays [MQTT-3.3.5-2]', async (t) => {
  const { url } = await aclNode(t)
  const watcher = await connectClient(t, url, { protocolVersion: 4, clientId: 'ap4-watch' })
  const got = collect(watcher)
  await watcher.subscribeAsync('readonly/#', { qos: 2 })
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'ap4-pub' })
  let closed = false
  pub.on('close', () => { closed = true })
  await pub.publishAsync('readonly/a', 'q0', { qos: 0 })
  await pub.publishAsync('readonly/a', 'q1', { qos: 1 }) // resolves on PUBACK
  await pub.publishAsync('readonly/a', 'q2', { qos: 2 }) // resolves on PUBCOMP
  await pub.publishAsync('readonly/a/deeper', 'allowed', { qos: 1 }) // readonly/+ does not match
  await waitFor(() => got.length >= 1)
  await sleep(100)
  assert.deepEqual(got.map((m) => m.payload.toString()), ['allowed'])
  assert.equal(closed, false)
  assert.equal(pub.connected, true)
})

test('v5: a refused publish gets PUBACK / PUBREC 0x87 and is dropped; the connection stays', async (t) => {
  const { url } = await aclNode(t)
  const watcher = await connectClient(t, url, { protocolVersion: 5, clientId: 'ap5-watch' })
  const got = collect(watcher)
  await watcher.subscribeAsync('readonly/#', { qos: 2 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ap5-pub' })
  await pub.publishAsync('readonly/a', 'q0', { qos: 0 })
  for (const qos of [1, 2] as const) {
    await assert.rejects(pub.publishAsync('readonly/a', `q${qos}`, { qos }), (err: Error & { code?: number }) => err.code === 0x87)
  }
  await pub.publishAsync('readonly/a/deeper', 'allowed', { qos: 1 })
  await waitFor(() => got.length >= 1)
  await sleep(100)
  assert.deepEqual(got.map((m) => m.payload.toString()), ['allowed'])
  assert.equal(pub.connected, true)
})
