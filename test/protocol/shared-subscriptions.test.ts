import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket, ISubackPacket, Packet } from 'mqtt-packet'
import { collect, connectClient, connectWithAck, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { scrapeText } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

const counts = (lists: ReadonlyArray<readonly unknown[]>): number[] => lists.map((l) => l.length)

test('v5 CONNACK no longer says shared subscriptions are unavailable [MQTT-3.2.2-13]', async (t) => {
  const { url } = await startTestNode(t)
  const { connack } = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'sh-connack' })
  assert.notEqual(connack.properties?.sharedSubscriptionAvailable, false)
})

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: invalid $share filters are refused alone (0x8F / 0x80) [MQTT-4.8.2-1] [MQTT-4.8.2-2]`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion, clientId: `sh-bad${protocolVersion}` })
    const bad = ['$share//a', '$share/g+/a', '$share/g#/a', '$share/g', '$share/g/', '$share/g/a/#/b']
    client.send({ cmd: 'subscribe', messageId: 7, subscriptions: [...bad, '$share/ok/a/+'].map((topic) => ({ topic, qos: 1 })) } as Packet)
    const suback = await client.next<ISubackPacket>('suback')
    const refused = protocolVersion === 5 ? 0x8F : 0x80
    assert.deepEqual(suback.granted, [...bad.map(() => refused), 1])
    assert.equal(client.closed, false)
  })

  test(`v${protocolVersion}: round-robin over a group's members, each message to exactly one`, async (t) => {
    const { url } = await startTestNode(t)
    const members = await Promise.all([0, 1, 2].map((i) => connectClient(t, url, { protocolVersion, clientId: `rr${protocolVersion}-${i}` })))
    const got = members.map(collect)
    for (const member of members) await member.subscribeAsync('$share/workers/rr/+', { qos: 1 })
    const pub = await connectClient(t, url, { protocolVersion, clientId: `rr${protocolVersion}-pub` })
    for (let i = 0; i < 30; i++) await pub.publishAsync(`rr/${i % 3}`, String(i), { qos: 1 })
    await waitFor(() => got.flat().length >= 30, 5000, '30 messages')
    await sleep(100)
    const all = got.flat().map((m) => m.payload.toString()).sort((a, b) => Number(a) - Number(b))
    assert.deepEqual(all, Array.from({ length: 30 }, (_, i) => String(i)))
    for (const n of counts(got)) assert.ok(n >= 8 && n <= 12, `shares ${counts(got).join('/')}`)
    assert.ok(got.flat().every((m) => m.topic.startsWith('rr/') && !m.packet.retain))
  })
}

test('v5: No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82 [MQTT-3.8.3-4]', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const { client } = await rawMqttConnect(t, mqttPort, { clientId: 'sh-nl' })
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/nl', qos: 1, nl: true }] } as Packet)
  const disconnect = await client.next('disconnect')
  assert.equal((disconnect as { reasonCode?: number }).reasonCode, 0x82)
  await client.waitClosed()
})

test('no retained message is sent on a shared subscribe; ordinary subscribers still get it (MQTT 5 §4.8.2)', async (t) => {
  const { url } = await startTestNode(t)
  const pub = await connectClient(t, url, { clientId: 'ret-pub' })
  await pub.publishAsync('ret/a', 'kept', { qos: 1, retain: true })
  const member = await connectClient(t, url, { clientId: 'ret-member' })
  const got = collect(member)
  await member.subscribeAsync('$share/g/ret/#', { qos: 1 })
  const plain = await connectClient(t, url, { clientId: 'ret-plain' })
  const plainGot = collect(plain)
  await plain.subscribeAsync('ret/#', { qos: 1 })
  await waitFor(() => plainGot.length === 1)
  await sleep(200)
  assert.equal(got.length, 0)
  // A live retained publish reaches the member with RETAIN 0 (Retain As Published unset) [MQTT-3.3.1-12].
  await pub.publishAsync('ret/a', 'live', { qos: 1, retain: true })
  await waitFor(() => got.length === 1)
  assert.equal(got[0]?.packet.retain, false)
})

test('QoS is the minimum of the publish and the subscription QoS [MQTT-3.8.4-6]', async (t) => {
  const { url } = await startTestNode(t)
  const q0 = await connectClient(t, url, { clientId: 'qos-0' })
  const q1 = await connectClient(t, url, { clientId: 'qos-1' })
  const got0 = collect(q0)
  const got1 = collect(q1)
  await q0.subscribeAsync('$share/a/qos/t', { qos: 0 })
  await q1.subscribeAsync('$share/b/qos/t', { qos: 1 })
  const pub = await connectClient(t, url, { clientId: 'qos-pub' })
  await pub.publishAsync('qos/t', 'two', { qos: 2 })
  await pub.publishAsync('qos/t', 'zero', { qos: 0 })
  await waitFor(() => got0.length === 2 && got1.length === 2)
  assert.deepEqual(got0.map((m) => m.packet.qos), [0, 0])
  assert.deepEqual(got1.map((m) => [m.payload.toString(), m.packet.qos]), [['two', 1], ['zero', 0]])
})

test('several groups on one topic each get a copy, next to an ordinary subscription', async (t) => {
  const { url } = await startTestNode(t)
  const clients = await Promise.all(['g1a', 'g1b', 'g2a', 'plain'].map((id) => connectClient(t, url, { clientId: id })))
  const got = clients.map(collect)
  await clients[0]?.subscribeAsync('$share/g1/multi/#', { qos: 1 })
  await clients[1]?.subscribeAsync('$share/g1/multi/#', { qos: 1 })
  await clients[2]?.subscribeAsync('$share/g2/multi/#', { qos: 1 })
  await clients[3]?.subscribeAsync('multi/#', { qos: 1 })
  // A member with an ordinary subscription on the same topics gets both copies.
  await clients[3]?.subscribeAsync('$share/g3/multi/#', { qos: 1 })
  const pub = await connectClient(t, url, { clientId: 'multi-pub' })
  for (let i = 0; i < 10; i++) await pub.publishAsync('multi/x', String(i), { qos: 1 })
  await waitFor(() => got[0]!.length + got[1]!.length === 10 && got[2]!.length === 10 && got[3]!.length === 20)
  await sleep(100)
  assert.equal(got[0]!.length + got[1]!.length, 10)
})

test('unsubscribe with the same $share string; a member that leaves stops getting messages', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: a } = await rawMqttConnect(t, mqttPort, { clientId: 'un-a' })
  a.onPacket = (p) => { if (p.cmd === 'publish' && p.qos > 0) a.send({ cmd: 'puback', messageId: p.messageId } as Packet) }
  const b = await connectClient(t, url, { clientId: 'un-b' })
  const gotB = collect(b)
  a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/un/t', qos: 1 }] } as Packet)
  await a.next('suback')
  await b.subscribeAsync('$share/g/un/t', { qos: 1 })
  // Another group's filter and the plain filter are other subscriptions: "no subscription existed".
  a.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['$share/g/un/t', '$share/h/un/t', 'un/t'] } as Packet)
  const unsuback = await a.next<Packet & { granted?: number[] }>('unsuback')
  assert.deepEqual(unsuback.granted, [0x00, 0x11, 0x11])
  const pub = await connectClient(t, url, { clientId: 'un-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync('un/t', String(i), { qos: 1 })
  await waitFor(() => gotB.length === 5)
  await sleep(100)
  assert.equal(a.received.filter((p) => p.cmd === 'publish').length, 0)
})

test('a member lost with unacknowledged messages: they go to another member [MQTT-4.8.2]', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  // A raw member that never acknowledges, alone in the group at first.
  const { client: silent } = await rawMqttConnect(t, mqttPort, { clientId: 'lost-silent' })
  silent.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/lost/t', qos: 1 }] } as Packet)
  await silent.next('suback')
  const pub = await connectClient(t, url, { clientId: 'lost-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync('lost/t', String(i), { qos: 1 })
  await waitFor(() => silent.received.filter((p) => p.cmd === 'publish').length === 5)
  const other = await connectClient(t, url, { clientId: 'lost-other' })
  const got = collect(other)
  await other.subscribeAsync('$share/g/lost/t', { qos: 1 })
  silent.destroy()
  await waitFor(() => got.length === 5, 5000, 'redelivery')
  assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['0', '1', '2', '3', '4'])
  // A new delivery to another client: DUP is 0 [MQTT-3.3.1-3].
  assert.ok(got.every((m) => !m.packet.dup))
})

test('a group with no member online keeps its messages for the next member; metrics count them', async (t) => {
  const { url, httpPort } = await startTestNode(t, { 'share.sweepMs': 100 })
  const first = await connectClient(t, url, { clientId: 'keep-first' })
  await first.subscribeAsync('$share/keep/keep/t', { qos: 1 })
  first.end(true)
  await waitFor(() => first.disconnected)
  const pub = await connectClient(t, url, { clientId: 'keep-pub' })
  for (let i = 0; i < 20; i++) await pub.publishAsync('keep/t', String(i), { qos: 1 })
  const late = await connectClient(t, url, { clientId: 'keep-late', protocolVersion: 4 })
  const got = collect(late)
  await late.subscribeAsync('$share/keep/keep/t', { qos: 1 })
  await waitFor(() => got.length === 20)
  assert.deepEqual(got.map((m) => m.payload.toString()), Array.from({ length: 20 }, (_, i) => String(i)))
  // The gauges are refreshed every share.sweepMs, the counters at once: poll until both settled.
  const settled = (text: string): boolean => /starling_share_messages_delivered_total\{[^}]*group="keep"[^}]*\} 20/.test(text) &&
    /starling_share_lag_messages\{[^}]*group="keep"[^}]*\} 0/.test(text)
  let text = await scrapeText(httpPort)
  for (let attempt = 0; attempt < 100 && !settled(text); attempt++) {
    await sleep(50)
    text = await scrapeText(httpPort)
  }
  assert.ok(settled(text), `delivered 20 and lag 0 in\n${text}`)
  assert.match(text, /starling_share_messages_enqueued_total\{[^}]*group="keep"[^}]*\} 20/)
  assert.match(text, /starling_share_pending_messages/)
})

test('a queue keeps at most share.maxLength messages; the oldest are dropped and counted', async (t) => {
  const { url, httpPort } = await startTestNode(t, { 'share.maxLength': 5 })
  const first = await connectClient(t, url, { clientId: 'cap-first' })
  await first.subscribeAsync('$share/cap/cap/t', { qos: 1 })
  first.end(true)
  await waitFor(() => first.disconnected)
  const pub = await connectClient(t, url, { clientId: 'cap-pub' })
  for (let i = 0; i < 8; i++) await pub.publishAsync('cap/t', String(i), { qos: 1 })
  const late = await connectClient(t, url, { clientId: 'cap-late' })
  const got = collect(late)
  await late.subscribeAsync('$share/cap/cap/t', { qos: 1 })
  await waitFor(() => got.length === 5)
  await sleep(100)
  assert.deepEqual(got.map((m) => m.payload.toString()), ['3', '4', '5', '6', '7'])
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  assert.match(text, /starling_share_messages_dropped_total\{[^}]*reason="max_length"[^}]*\} 3/)
})

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: a persistent-session member keeps its group membership across a reconnect`, async (t) => {
    const { url } = await startTestNode(t)
    const member = await connectClient(t, url, persistentSession(protocolVersion, `keep-session${protocolVersion}`))
    await member.subscribeAsync('$share/ps/ps/t', { qos: 1 })
    await new Promise<void>((resolve) => member.end(false, {}, () => resolve()))
    const pub = await connectClient(t, url, { clientId: `ps-pub${protocolVersion}` })
    for (let i = 0; i < 3; i++) await pub.publishAsync('ps/t', String(i), { qos: 1 })
    // No SUBSCRIBE after the reconnect: the session's subscription brings it back into the group,
    // and it gets what the group kept meanwhile (the group, not the session, held them).
    const got = resumeSession(t, url, persistentSession(protocolVersion, `keep-session${protocolVersion}`))
    await waitFor(() => got.length === 3)
    await sleep(100)
    assert.deepEqual(got.map((m) => m.payload.toString()), ['0', '1', '2'])
  })
}

test('a $share topic cannot be published to', async (t) => {
  const { url } = await startTestNode(t)
  const member = await connectClient(t, url, { clientId: 'lit-member' })
  const got = collect(member)
  await member.subscribeAsync('$share/g/lit', { qos: 1 })
  const pub = await connectClient(t, url, { clientId: 'lit-pub' })
  await pub.publishAsync('$share/g/lit', 'x', { qos: 1 }).catch(() => {})
  await sleep(200)
  assert.equal(got.length, 0)
})

export type { IPublishPacket }
