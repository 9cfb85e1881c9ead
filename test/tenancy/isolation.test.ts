import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import type { ISubackPacket } from 'mqtt-packet'
import { collect, connectClient, refusedCode, sleep, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { ALPHA, BETA, DOMAIN, startTenancyNode, type BrokerEntry, type TenancyNode } from '../helpers/tenancy.js'

type Via = 'ws' | 'tls'

/** Everything any client of a scenario received, to check that no `$t/` ever shows. */
class Inbox {
  readonly all: Received[] = []
  watch (client: MqttClient): Received[] {
    const mine = collect(client)
    client.on('message', (topic, payload, packet) => this.all.push({ topic, payload, packet }))
    return mine
  }
}

const payloads = (got: readonly Received[], topic?: string): string[] =>
  got.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload.toString())

/** Ends the connection without DISCONNECT, so the will is published. */
function dropConnection (client: MqttClient): void {
  client.stream.destroy()
}

async function isolationScenario (t: TestContext, n: TenancyNode, via: Via): Promise<void> {
  const inbox = new Inbox()
  const open = async (broker: BrokerEntry | undefined, options: IClientOptions): Promise<MqttClient> =>
    broker === undefined
      ? await connectClient(t, n.mqttUrl, { protocolVersion: 5, ...options })
      : await connectClient(t, ...n[via](broker, { protocolVersion: 5, ...options }))

  // The same client id in every space: none takes another over.
  const pubA = await open(ALPHA, { clientId: 'pub' })
  const pubB = await open(BETA, { clientId: 'pub' })
  const pubD = await open(undefined, { clientId: 'pub' })
  await pubA.publishAsync('r/x', 'retained-a', { qos: 1, retain: true })
  await pubB.publishAsync('r/x', 'retained-b', { qos: 1, retain: true })
  await pubD.publishAsync('r/x', 'retained-d', { qos: 1, retain: true })
  // A tenant's own `$` topic: no wildcard-first filter of its own gets it [MQTT-4.7.2-1].
  await pubA.publishAsync('$app/r', 'dollar-retained-a', { qos: 1, retain: true })

  const subA = await open(ALPHA, { clientId: 'sub' })
  const subB = await open(BETA, { clientId: 'sub' })
  const subD = await open(undefined, { clientId: 'sub' })
  const gotA = inbox.watch(subA)
  const gotB = inbox.watch(subB)
  const gotD = inbox.watch(subD)
  for (const sub of [subA, subB, subD]) await sub.subscribeAsync({ '#': { qos: 1 } })
  await waitFor(() => gotA.length >= 1 && gotB.length >= 1 && gotD.length >= 1, 5000, 'retained messages')
  const sysA = await open(ALPHA, { clientId: 'sys' })
  const sysD = await open(undefined, { clientId: 'sys' })
  const gotSysA = inbox.watch(sysA)
  const gotSysD = inbox.watch(sysD)
  await sysA.subscribeAsync(['$SYS/#', '$app/#'], { qos: 0 })
  await sysD.subscribeAsync('$SYS/#', { qos: 0 })
  const sharedA = await open(ALPHA, { clientId: 'member' })
  const sharedB = await open(BETA, { clientId: 'member' })
  const gotSharedA = inbox.watch(sharedA)
  const gotSharedB = inbox.watch(sharedB)
  await sharedA.subscribeAsync('$share/g/s/t', { qos: 1 })
  await sharedB.subscribeAsync('$share/g/s/t', { qos: 1 })

  // Retained: each space its own.
  assert.deepEqual(payloads(gotA, 'r/x'), ['retained-a'])
  assert.deepEqual(payloads(gotB, 'r/x'), ['retained-b'])
  assert.deepEqual(payloads(gotD, 'r/x'), ['retained-d'])
  await waitFor(() => payloads(gotSysA, '$app/r').length === 1, 5000, 'the tenant\'s own $app retained message')

  // Ordinary and shared messages.
  await pubA.publishAsync('t/1', 'from-a', { qos: 1 })
  await pubB.publishAsync('t/1', 'from-b', { qos: 1 })
  await pubD.publishAsync('t/1', 'from-d', { qos: 1 })
  await pubA.publishAsync('$app/live', 'dollar-live-a', { qos: 1 })
  for (let i = 0; i < 3; i++) {
    await pubA.publishAsync('s/t', `share-a-${i}`, { qos: 1 })
    await pubB.publishAsync('s/t', `share-b-${i}`, { qos: 1 })
  }

  // Wills: the same client id and will topic in two spaces.
  const willA = await open(ALPHA, { clientId: 'w', will: { topic: 'will/w', payload: Buffer.from('gone-a'), qos: 1, retain: false } })
  const willB = await open(BETA, { clientId: 'w', will: { topic: 'will/w', payload: Buffer.from('gone-b'), qos: 1, retain: false } })
  await willA.subscribeAsync('own/a')
  dropConnection(willA)
  dropConnection(willB)

  await waitFor(() => payloads(gotA, 'will/w').length === 1 && payloads(gotB, 'will/w').length === 1, 5000, 'wills')
  await waitFor(() => gotSharedA.length === 3 && gotSharedB.length === 3, 5000, 'shared messages')
  await waitFor(() => payloads(gotSysA, '$app/live').length === 1, 5000, 'the tenant\'s $app message')
  await sleep(300)

  assert.deepEqual(payloads(gotA, 't/1'), ['from-a'])
  assert.deepEqual(payloads(gotB, 't/1'), ['from-b'])
  assert.deepEqual(payloads(gotD, 't/1'), ['from-d'])
  assert.deepEqual(payloads(gotA, 'will/w'), ['gone-a'])
  assert.deepEqual(payloads(gotB, 'will/w'), ['gone-b'])
  assert.deepEqual(payloads(gotD, 'will/w'), [])
  assert.deepEqual(payloads(gotSharedA).sort(), ['share-a-0', 'share-a-1', 'share-a-2'])
  assert.deepEqual(payloads(gotSharedB).sort(), ['share-b-0', 'share-b-1', 'share-b-2'])
  assert.ok(gotSharedA.every((m) => m.topic === 's/t'))
  // A tenant's `#` gets none of its own `$` topics: live, retained.
  assert.deepEqual(gotA.filter((m) => m.topic.startsWith('$')).map((m) => m.topic), [])

  // $SYS: a tenant sees its own clients' events by their own ids, nobody sees another's.
  assert.ok(gotSysA.some((m) => /^\$SYS\/tenancy-node\/new\/clients$/.test(m.topic) && m.payload.toString() === 'w'), 'tenant sees its own new client')
  assert.ok(gotSysA.some((m) => m.topic.endsWith('/new/subscribes') && JSON.parse(m.payload.toString()).clientId === 'w' &&
    JSON.parse(m.payload.toString()).subs[0].topic === 'own/a'), 'tenant sees its own client\'s subscription, unmounted')
  const sysPayloadsD = payloads(gotSysD)
  // Beta's `w` connected too: alpha's $SYS shows alpha's `w` once, the default broker's none.
  assert.equal(gotSysA.filter((m) => m.topic.endsWith('/new/clients') && m.payload.toString() === 'w').length, 1)
  assert.equal(sysPayloadsD.filter((p) => p === 'w').length, 0, 'the default broker sees no tenant client')
  assert.ok(!sysPayloadsD.some((p) => p.includes('own/a')), 'the default broker sees no tenant subscription')

  // The same client id in three spaces: nobody was taken over.
  assert.ok(pubA.connected && pubB.connected && pubD.connected, 'same client id in another space is not a takeover')

  // No client ever saw a mount, in a topic or in a $SYS payload (before the intruder below names one itself).
  assert.ok(inbox.all.length > 10)
  for (const message of inbox.all) {
    assert.ok(!message.topic.includes('$t/'), `topic ${message.topic}`)
    assert.ok(!message.payload.toString().includes('$t/'), `payload on ${message.topic}`)
  }

  // `$t/` is nobody's: publishing there is refused (0x87) and reaches nobody; subscribing is refused.
  await assert.rejects(pubD.publishAsync(`$t/${n.idOf(BETA)}/t/1`, 'intruder', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  await assert.rejects(pubA.publishAsync(`$t/${n.idOf(BETA)}/t/1`, 'intruder', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  // Nor into a pod's control topics, from any space ($SYS is judged on the client's own topic).
  await assert.rejects(pubA.publishAsync('$SYS/pod-x/heartbeat', 'intruder', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  await assert.rejects(pubD.publishAsync('$SYS/pod-x/new/clients', 'intruder', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  const granted = await new Promise<ISubackPacket>((resolve, reject) => {
    pubD.subscribe([`$t/${n.idOf(BETA)}/#`, `$share/x/$t/${n.idOf(BETA)}/#`, '$t/#'], { qos: 1 }, (err, _g, packet) => {
      if (packet !== undefined) resolve(packet as ISubackPacket); else reject(err ?? new Error('no SUBACK'))
    })
  })
  assert.deepEqual(granted.granted, [0x87, 0x87, 0x87])
  await sleep(200)
  assert.ok(!inbox.all.some((m) => m.payload.toString() === 'intruder'))
  assert.ok(!inbox.all.some((m) => m.topic.includes('$t/')))
}

test('WebSocket Host header selects the broker: ordinary, retained, will, shared, $SYS and $ topics stay in their space', async (t) => {
  const n = await startTenancyNode(t)
  await isolationScenario(t, n, 'ws')
})

test('TLS SNI selects the broker: ordinary, retained, will, shared, $SYS and $ topics stay in their space', async (t) => {
  const n = await startTenancyNode(t)
  await isolationScenario(t, n, 'tls')
})

test('an endpoint name of a broker that does not exist is refused with 0x87 (3.1.1: 5); other names go to the default broker', async (t) => {
  const n = await startTenancyNode(t)
  const ghost: BrokerEntry = { namespace: 'acme', name: 'ghost', id: 'unused' }
  assert.equal(await refusedCode(...n.ws(ghost, { protocolVersion: 5, clientId: 'x' })), 0x87)
  assert.equal(await refusedCode(...n.tls(ghost, { protocolVersion: 5, clientId: 'x' })), 0x87)
  assert.equal(await refusedCode(...n.ws(ghost, { protocolVersion: 4, clientId: 'x' })), 5)
  // Not of the domain (or not two labels under it): the default broker, whose messages a plain TCP client shares.
  const d = await connectClient(t, n.mqttUrl, { protocolVersion: 5, clientId: 'plain' })
  const got = collect(d)
  await d.subscribeAsync('x')
  const [wsUrl, wsOptions] = n.ws(undefined, { protocolVersion: 5, clientId: 'other', wsOptions: { headers: { Host: 'broker.example.org' } } })
  const other = await connectClient(t, wsUrl, wsOptions)
  await other.publishAsync('x', 'default-space', { qos: 1 })
  const [tlsUrl, tlsOptions] = n.tls(undefined, { protocolVersion: 5, clientId: 'deep', servername: `a.b.c.${DOMAIN}` })
  const deep = await connectClient(t, tlsUrl, tlsOptions)
  await deep.publishAsync('x', 'default-space-too', { qos: 1 })
  await waitFor(() => got.length === 2, 5000, 'default-space messages')
})

test('a default-broker client may not use a client id or will topic under $t/', async (t) => {
  const n = await startTenancyNode(t)
  assert.equal(await refusedCode(n.mqttUrl, { protocolVersion: 5, clientId: `$t/${n.idOf(ALPHA)}/sub` }), 0x85)
  assert.equal(await refusedCode(n.mqttUrl, { protocolVersion: 4, clientId: `$t/${n.idOf(ALPHA)}/sub` }), 2)
  assert.equal(await refusedCode(n.mqttUrl, { protocolVersion: 5, clientId: 'w', will: { topic: `$t/${n.idOf(ALPHA)}/x`, payload: Buffer.from('x'), qos: 0, retain: false } }), 0x90)
})

test('MQTT 3.1.1 clients: the same client id and topics in two brokers stay apart; a refused $t/ publish is acknowledged and dropped', async (t) => {
  const n = await startTenancyNode(t)
  const subA = await connectClient(t, ...n.ws(ALPHA, { protocolVersion: 4, clientId: 'dev', clean: false }))
  const subB = await connectClient(t, ...n.tls(BETA, { protocolVersion: 4, clientId: 'dev', clean: false }))
  const gotA = collect(subA)
  const gotB = collect(subB)
  await subA.subscribeAsync('#', { qos: 1 })
  await subB.subscribeAsync('#', { qos: 1 })
  await subA.publishAsync('x/y', 'a', { qos: 1, retain: true })
  await subB.publishAsync('x/y', 'b', { qos: 1 })
  await subB.publishAsync(`$t/${n.idOf(ALPHA)}/x/y`, 'intruder', { qos: 1 }) // [MQTT-3.3.5-2]
  await waitFor(() => gotA.length === 1 && gotB.length === 1, 5000, 'messages')
  await sleep(300)
  assert.deepEqual(gotA.map((m) => `${m.topic}=${m.payload.toString()}`), ['x/y=a'])
  assert.deepEqual(gotB.map((m) => `${m.topic}=${m.payload.toString()}`), ['x/y=b'])
  assert.ok(subA.connected && subB.connected)
})

test('topic aliases both ways and QoS 2 in a tenant\'s space: the client sees its own topics only', async (t) => {
  const n = await startTenancyNode(t)
  const sub = await connectClient(t, ...n.ws(ALPHA, { protocolVersion: 5, clientId: 'sub', properties: { topicAliasMaximum: 10 } }))
  const got = collect(sub)
  const rawTopics: string[] = []
  sub.on('packetreceive', (packet) => { if (packet.cmd === 'publish') rawTopics.push(packet.topic) })
  await sub.subscribeAsync('a/b', { qos: 2 })
  const pub = await connectClient(t, ...n.tls(ALPHA, { protocolVersion: 5, clientId: 'pub', properties: { topicAliasMaximum: 10 } }))
  await pub.publishAsync('a/b', 'one', { qos: 1, properties: { topicAlias: 1 } })
  await pub.publishAsync('', 'two', { qos: 1, properties: { topicAlias: 1 } })
  await pub.publishAsync('a/b', 'three', { qos: 2 })
  await waitFor(() => got.length === 3, 5000, 'messages')
  // (mqtt.js reports a QoS 2 message under the packet's own topic field, so QoS 1 carries the alias part.)
  assert.deepEqual(got.slice(0, 2).map((m) => `${m.topic}=${m.payload.toString()}`), ['a/b=one', 'a/b=two'])
  assert.equal(got[2]!.payload.toString(), 'three')
  assert.equal(got[2]!.packet.qos, 2)
  // The first copy went out with the tenant's own topic and an alias, later ones as the alias alone.
  assert.deepEqual(rawTopics, ['a/b', '', ''])
})
