import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { ISubackPacket } from 'mqtt-packet'
import { collect, connectClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
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

for (const protocolVersion of [4, 5] as const) {
  const refused = protocolVersion === 5 ? 0x87 : 0x80

  test(`v${protocolVersion}: subscriptions that could receive from a denied filter are refused per entry (0x${refused.toString(16)})`, async (t) => {
    const { url, mqttPort } = await aclNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `as${protocolVersion}`, protocolVersion })
    // acl.ts refuses a filter that overlaps a deny rule: `#` and `+/x` could read secret/x.
    const filters = ['secret/a', 'public/#', '#', '+/x', 'secret/#', 'public/+/x']
    client.send({ cmd: 'subscribe', messageId: 3, subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })) })
    const suback = await client.next<ISubackPacket>('suback')
    assert.deepEqual(suback.granted, [refused, 1, refused, refused, refused, 1])
    const pub = await connectClient(t, url, { protocolVersion, clientId: `as${protocolVersion}-pub` })
    await pub.publishAsync('secret/x', 'hidden', { qos: 1 })
    await pub.publishAsync('public/x', 'open', { qos: 1 })
    await client.next('publish')
    await sleep(100)
    assert.deepEqual(client.received.filter((p) => p.cmd === 'publish').map((p) => (p as { topic: string }).topic), ['public/x'])
    assert.equal(client.closed, false)
  })

  test(`v${protocolVersion}: a refused subscription of a persistent session queues nothing offline`, async (t) => {
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
