import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { exportJWK, SignJWT } from 'jose'
import mqtt from 'mqtt'
import type { IDisconnectPacket } from 'mqtt-packet'

import type { BrokerRecord } from '../../src/tenancy/types.js'
import { collect, connectClient, connectWithAck, refusedCode, stopClient, waitFor, sleep, type MqttClient } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { brokerArgs, mosquittoPub, mosquittoSub } from '../helpers/mosquitto.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { rawConnect } from '../helpers/raw-client.js'

/** An embedded node whose default broker needs tokens (no slow-down unless asked, no clock tolerance). */
async function tokenNode (t: TestContext, overrides: Record<string, unknown> = {}): Promise<{ node: TestNode, broker: BrokerRecord }> {
  const node = await startTestNode(t, {
    'auth.defaultBrokerAuthType': 'TOKEN',
    'auth.failureDelayMaxMs': 0,
    'auth.clockToleranceSeconds': 0,
    ...overrides
  })
  const broker = await node.node.identity.tenancy.getBroker('default', 'default')
  return { node, broker }
}

async function issueOne (node: TestNode, broker: BrokerRecord, options: Parameters<TestNode['node']['identity']['tokens']['issue']>[1] = { number: 1 }): Promise<{ clientId: string, token: string }> {
  const issued = await node.node.identity.tokens.issue(broker, options)
  const [clientId, token] = Object.entries(issued)[0] as [string, string]
  return { clientId, token }
}

function jtiOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti
}

/** Resolves with the reason code of the server's DISCONNECT (v5), or 'closed' when the connection just ends. */
function serverDisconnect (client: MqttClient): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    client.once('disconnect', (packet: IDisconnectPacket) => resolve(packet.reasonCode ?? 0))
    client.once('close', () => resolve('closed'))
  })
}

function clientsOf (node: TestNode): Readonly<Record<string, unknown>> {
  return node.node.broker.clients
}

/** A CONNECT built by hand, for those mqtt-packet 9 refuses to encode; `fields`: user name and/or password as the flags say. */
function handBuiltConnect (version: 4 | 5, flags: number, clientId: string, fields: readonly string[]): Buffer {
  const str = (text: string): Buffer => { const b = Buffer.from(text); return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]) }
  const header = version === 5 ? [5, flags, 0, 60, 0] : [4, flags, 0, 60] // v5: empty properties
  const body = Buffer.concat([str('MQTT'), Buffer.from(header), str(clientId), ...fields.map(str)])
  const length: number[] = []
  let n = body.length
  do { let byte = n % 128; n = Math.floor(n / 128); if (n > 0) byte |= 0x80; length.push(byte) } while (n > 0)
  return Buffer.concat([Buffer.from([0x10, ...length]), body])
}

test('seed step 7: mqtt.js with `password: token` and `protocolVersion: 5`, no client id, connects, publishes and receives; the CONNACK assigns the token\'s client id', async (t) => {
  const { node, broker } = await tokenNode(t)
  const { clientId, token } = await issueOne(node, broker, { number: 1, topicAcl: { publish: ['#'], subscribe: ['#'] } })
  // The example (its endpoint and port replaced by the test node's), plus `username: ''`:
  // mqtt.js 5.16's encoder (mqtt-packet 9.0.2) destroys the connection of an MQTT 5 CONNECT with a
  // password and no username ("Username is required to use password"), though MQTT 5 allows it.
  // The password-only CONNECT itself is checked below with a hand-built packet.
  const options = {
    port: node.mqttPort,
    password: token,
    protocolVersion: 5 as const,
    username: ''
  }
  const client = mqtt.connect('mqtt://127.0.0.1', options)
  t.after(() => stopClient(client))
  const connack = new Promise<mqtt.IConnackPacket>((resolve) => client.once('connect', resolve))
  const received: string[] = []
  client.subscribe('example-topic')
  client.publish('example-topic', `message from ${client.options.clientId}: hello at ${Date.now()}`)
  client.on('message', function (topic, message) {
    received.push(`received message on ${topic}: ${message.toString()}`)
  })
  const ack = await connack
  // mqtt.js 5.16 does not copy Assigned Client Identifier into `client.options.clientId` (its
  // CONNACK handler ignores the property), so what the broker controls is checked: the CONNACK.
  assert.equal(ack.properties?.assignedClientIdentifier, clientId, 'the token decides the client id')
  await waitFor(() => received.length === 1, 5000, 'the example\'s own message')
  assert.match(received[0] as string, /^received message on example-topic: message from /)
  assert.ok(clientsOf(node)[clientId] !== undefined, 'the broker knows the client by the token\'s id')
  assert.equal(Object.keys(clientsOf(node)).length, 1)

  // On the wire as the seed means it: Password, no User Name, empty client id.
  const raw = await rawConnect(t, node.mqttPort, 5)
  raw.sendBytes(handBuiltConnect(5, 0x42, '', [token])) // Password, Clean Start; no User Name (§3.1.2.9 allows it)
  const rawAck = await raw.next<mqtt.IConnackPacket>('connack')
  assert.equal(rawAck.reasonCode, 0)
  assert.equal(rawAck.properties?.assignedClientIdentifier, clientId)
})

test('token as the CONNECT password (any username) or as the username alone; MQTT 5 gets the token\'s id assigned only when it sent another', async (t) => {
  const { node, broker } = await tokenNode(t)
  const { clientId, token } = await issueOne(node, broker)
  const asUsername = await connectWithAck(t, node.url, { protocolVersion: 5, username: token, clientId: '' })
  assert.equal(asUsername.connack.properties?.assignedClientIdentifier, clientId)
  await stopClient(asUsername.client)
  const withUsername = await connectWithAck(t, node.url, { protocolVersion: 5, username: 'anything', password: token, clientId: 'chosen-by-client' })
  assert.equal(withUsername.connack.properties?.assignedClientIdentifier, clientId)
  await stopClient(withUsername.client)
  const same = await connectWithAck(t, node.url, { protocolVersion: 5, username: 'x', password: token, clientId })
  assert.equal(same.connack.properties?.assignedClientIdentifier, undefined, 'no assignment when the client sent the token\'s id')
})

test('MQTT 3.1.1: the token\'s client id or an empty one (clean session) is accepted; another id, or an empty one without clean session, is refused with return code 2', async (t) => {
  const { node, broker } = await tokenNode(t)
  const { clientId, token } = await issueOne(node, broker)
  const own = await connectClient(t, node.url, { protocolVersion: 4, clientId, password: token, username: 'x' })
  await stopClient(own)
  const empty = await connectClient(t, node.url, { protocolVersion: 4, clientId: '', clean: true, password: token, username: 'x' })
  assert.ok(clientsOf(node)[clientId] !== undefined, 'an empty id becomes the token\'s')
  await stopClient(empty)
  assert.equal(await refusedCode(node.url, { protocolVersion: 4, clientId: 'someone-else', password: token, username: 'x' }), 2)
  // [MQTT-3.1.3-8] even though the token supplies an id: the spec's rule for a zero-byte id stands.
  // (mqtt.js and mqtt-packet will not encode that CONNECT: built by hand.)
  const raw = await rawConnect(t, node.mqttPort, 4)
  raw.sendBytes(handBuiltConnect(4, 0xc0, '', ['x', token]))
  assert.equal((await raw.next<mqtt.IConnackPacket>('connack')).returnCode, 2)
  const samples = await scrape(node.httpPort)
  assert.equal(value(samples, 'starling_connects_refused_total', { reason: 'token_client_id' }), 1)
})

test('every refusal reason: CONNACK reason code (5) / return code (3.1.1), counted by reason, never logged with the token', async (t) => {
  const { node, broker } = await tokenNode(t)
  const tenancy = node.node.identity.tenancy
  const tokens = node.node.identity.tokens
  const valid = await issueOne(node, broker)
  const [header, payload, signature] = valid.token.split('.') as [string, string, string]
  const forged = `${header}.${payload}.${signature.slice(0, -4)}${signature.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
  const notYet = await issueOne(node, broker, { number: 1, notBeforeSeconds: 3600 })
  const expiring = await issueOne(node, broker, { number: 1, expiresInSeconds: 1 })
  const revoked = await issueOne(node, broker)
  await tokens.revoke(broker, [jtiOf(revoked.token)])
  await tenancy.createNamespace({ name: 'gone' })
  const goneBroker = await tenancy.createBroker('gone', { name: 'soon', authType: 'TOKEN' })
  const gone = await issueOne(node, goneBroker)
  await tenancy.deleteBroker('gone', 'soon')
  await sleep(2100) // `expiring` is now past its exp (no clock tolerance on this node)

  const cases: Array<{ name: string, options: { username?: string, password?: string, clientId: string }, v5: number, v4: number, reason: string }> = [
    { name: 'no token', options: { clientId: 'c' }, v5: 0x87, v4: 5, reason: 'token_missing' },
    { name: 'not a token', options: { username: 'u', password: 'hunter2', clientId: 'c' }, v5: 0x86, v4: 4, reason: 'token_invalid' },
    { name: 'bad signature', options: { password: forged, clientId: valid.clientId }, v5: 0x86, v4: 4, reason: 'token_invalid' },
    { name: 'expired', options: { password: expiring.token, clientId: expiring.clientId }, v5: 0x86, v4: 4, reason: 'token_expired' },
    { name: 'not yet valid', options: { password: notYet.token, clientId: notYet.clientId }, v5: 0x86, v4: 4, reason: 'token_not_yet_valid' },
    { name: 'revoked', options: { password: revoked.token, clientId: revoked.clientId }, v5: 0x87, v4: 5, reason: 'token_revoked' },
    { name: 'another (deleted) broker\'s token', options: { password: gone.token, clientId: gone.clientId }, v5: 0x87, v4: 5, reason: 'token_wrong_broker' }
  ]
  for (const c of cases) {
    const options = { ...c.options, username: c.options.username ?? (c.options.password !== undefined ? 'any' : undefined) }
    assert.equal(await refusedCode(node.url, { ...options, protocolVersion: 5 }), c.v5, `${c.name} (MQTT 5)`)
    assert.equal(await refusedCode(node.url, { ...options, protocolVersion: 4 }), c.v4, `${c.name} (MQTT 3.1.1)`)
  }
  const samples = await scrape(node.httpPort)
  const expected = new Map<string, number>()
  for (const c of cases) expected.set(c.reason, (expected.get(c.reason) ?? 0) + 2)
  for (const [reason, count] of expected) assert.equal(value(samples, 'starling_connects_refused_total', { reason }), count, reason)
  const logged = JSON.stringify(node.logs.lines)
  for (const secret of [valid.token, forged, expiring.token, notYet.token, revoked.token, gone.token, 'hunter2']) {
    assert.ok(!logged.includes(secret), 'no token in the logs')
    assert.ok(!logged.includes(secret.split('.')[2] as string), 'no token signature in the logs')
  }
})

test('a client id is taken over only with a valid token for it', async (t) => {
  const { node, broker } = await tokenNode(t)
  const owner = await issueOne(node, broker)
  const intruder = await issueOne(node, broker)
  const first = await connectClient(t, node.url, { protocolVersion: 5, clientId: owner.clientId, password: owner.token, username: 'x' })
  const ended = serverDisconnect(first)
  // Another valid token naming the owner's id: MQTT 5 gets its own id, 3.1.1 is refused.
  const other = await connectWithAck(t, node.url, { protocolVersion: 5, clientId: owner.clientId, password: intruder.token, username: 'x' })
  assert.equal(other.connack.properties?.assignedClientIdentifier, intruder.clientId)
  assert.equal(await refusedCode(node.url, { protocolVersion: 4, clientId: owner.clientId, password: intruder.token, username: 'x' }), 2)
  assert.equal(await refusedCode(node.url, { protocolVersion: 5, clientId: owner.clientId }), 0x87)
  assert.ok(first.connected, 'the owner is still connected')
  // The owner's own token (a second device holding it) takes over, as MQTT says [MQTT-3.1.4-2].
  await connectClient(t, node.url, { protocolVersion: 5, clientId: owner.clientId, password: owner.token, username: 'x' })
  assert.equal(await ended, 0x8e)
})

test('revoking a jti disconnects its live sessions within a second: DISCONNECT 0x98 (5), connection closed (3.1.1); other tokens stay', async (t) => {
  const { node, broker } = await tokenNode(t)
  const a = await issueOne(node, broker)
  const b = await issueOne(node, broker)
  const keep = await issueOne(node, broker)
  const v5 = await connectClient(t, node.url, { protocolVersion: 5, password: a.token, username: 'x' })
  const v4 = await connectClient(t, node.url, { protocolVersion: 4, clientId: b.clientId, password: b.token, username: 'x' })
  const other = await connectClient(t, node.url, { protocolVersion: 5, password: keep.token, username: 'x' })
  const v5End = serverDisconnect(v5)
  const v4End = serverDisconnect(v4)
  const started = Date.now()
  await node.node.identity.tokens.revoke(broker, [jtiOf(a.token), jtiOf(b.token)])
  assert.equal(await v5End, 0x98)
  assert.equal(await v4End, 'closed')
  assert.ok(Date.now() - started < 1000, `cut off in ${Date.now() - started} ms`)
  assert.ok(other.connected)
  assert.equal(await refusedCode(node.url, { protocolVersion: 5, password: a.token, username: 'x' }), 0x87)
  const samples = await scrape(node.httpPort)
  assert.equal(value(samples, 'starling_server_disconnects_total', { reason: '0x98' }), 1)
})

test('a token that expires while connected: `disconnect` ends the session with 0x87, `keep` lets it run', async (t) => {
  const { node, broker } = await tokenNode(t)
  const short = await issueOne(node, broker, { number: 1, expiresInSeconds: 2 })
  const client = await connectClient(t, node.url, { protocolVersion: 5, password: short.token, username: 'x' })
  const ended = serverDisconnect(client)
  const started = Date.now()
  assert.equal(await ended, 0x87)
  // Expiry second + a sweep of at most a second.
  assert.ok(Date.now() - started < 3500, `ended after ${Date.now() - started} ms`)

  const tenancy = node.node.identity.tenancy
  await tenancy.updateBroker('default', 'default', { tokenExpiryAction: 'keep' })
  const kept = await issueOne(node, broker, { number: 1, expiresInSeconds: 1 })
  const keeper = await connectClient(t, node.url, { protocolVersion: 5, password: kept.token, username: 'x' })
  let closed = false
  keeper.on('close', () => { closed = true })
  await sleep(2600)
  assert.equal(closed, false, 'still connected after its token expired')
  const got = collect(keeper)
  await keeper.subscribeAsync('still/here', { qos: 1 })
  await keeper.publishAsync('still/here', 'yes', { qos: 1 })
  await waitFor(() => got.length === 1, 2000, 'a message after expiry')
  // A new CONNECT with the expired token is refused all the same.
  assert.equal(await refusedCode(node.url, { protocolVersion: 5, password: kept.token, username: 'x' }), 0x86)
})

test('token topic ACL: PUBLISH outside the publish filters gets PUBACK 0x87 (5) / is dropped (3.1.1); a SUBSCRIBE that can match no allowed topic gets 0x87 / 0x80, a broader one is granted and only allowed topics are delivered', async (t) => {
  const { node, broker } = await tokenNode(t)
  const acl = { publish: ['devices/d1/#'], subscribe: ['devices/d1/commands/+', 'broadcast/#'] }
  const v5Token = await issueOne(node, broker, { number: 1, topicAcl: acl })
  const v4Token = await issueOne(node, broker, { number: 1, topicAcl: acl })
  const open = await issueOne(node, broker, { number: 1 })
  const watcher = await connectClient(t, node.url, { protocolVersion: 5, password: open.token, username: 'x' })
  const seen = collect(watcher)
  await watcher.subscribeAsync('#', { qos: 1 })

  const v5 = await connectClient(t, node.url, { protocolVersion: 5, password: v5Token.token, username: 'x' })
  const pubackCodes: number[] = []
  v5.on('packetreceive', (packet) => { if (packet.cmd === 'puback') pubackCodes.push(packet.reasonCode ?? 0) })
  await v5.publishAsync('devices/d1/temp', 'ok', { qos: 1 })
  await v5.publishAsync('devices/d2/temp', 'no', { qos: 1 }).catch(() => {})
  await waitFor(() => pubackCodes.length === 2, 2000, 'two PUBACKs')
  assert.deepEqual(pubackCodes, [0, 0x87])
  const subacks: number[][] = []
  const recordSubacks = (client: MqttClient): void => { client.on('packetreceive', (packet) => { if (packet.cmd === 'suback') subacks.push(packet.granted as number[]) }) }
  recordSubacks(v5)
  v5.subscribe({
    'devices/d1/commands/+': { qos: 1 }, 'devices/d1/commands/reboot': { qos: 1 },
    'devices/#': { qos: 1 }, 'broadcast/all': { qos: 0 }, '$SYS/#': { qos: 0 }
  })
  await waitFor(() => subacks.length === 1, 2000, 'SUBACK (5)')
  // `devices/#` can match devices/d1/commands/x: granted, and filtered at delivery (Mosquitto's model).
  assert.deepEqual(subacks[0], [1, 1, 1, 0, 0x87])
  const v5Seen = collect(v5)
  await watcher.publishAsync('devices/d2/commands/x', 'not for v5', { qos: 1 })
  await watcher.publishAsync('devices/d1/commands/go', 'for v5', { qos: 1 })
  await waitFor(() => v5Seen.some((m) => m.topic === 'devices/d1/commands/go'), 2000, 'the allowed command')

  const v4 = await connectClient(t, node.url, { protocolVersion: 4, clientId: v4Token.clientId, password: v4Token.token, username: 'x' })
  await v4.publishAsync('devices/d2/from-v4', 'no', { qos: 1 })
  await v4.publishAsync('devices/d1/from-v4', 'ok', { qos: 1 })
  recordSubacks(v4)
  v4.subscribe({ 'devices/d1/commands/x': { qos: 1 }, '#': { qos: 1 } })
  await waitFor(() => subacks.length === 2, 2000, 'SUBACK (3.1.1)')
  // `#` can match an allowed topic too; `other/x` cannot.
  v4.subscribe({ 'other/x': { qos: 1 } })
  await waitFor(() => subacks.length === 3, 2000, 'second SUBACK (3.1.1)')
  assert.deepEqual(subacks[1], [1, 1])
  assert.deepEqual(subacks[2], [0x80])

  await waitFor(() => seen.some((m) => m.topic === 'devices/d1/from-v4'), 2000, 'the allowed 3.1.1 message')
  await sleep(200)
  assert.deepEqual(seen.map((m) => m.topic).sort(), ['devices/d1/commands/go', 'devices/d1/from-v4', 'devices/d1/temp', 'devices/d2/commands/x'])
  assert.deepEqual(v5Seen.map((m) => m.topic).filter((topic) => topic.startsWith('devices/d2')), [], 'nothing outside the token\'s subscribe filters')
})

test('mosquitto_pub / mosquitto_sub with -P <token>: MQTT 5 and 3.1.1 (3.1.1 with -i <the token\'s id>)', async (t) => {
  const { node, broker } = await tokenNode(t)
  const subToken = await issueOne(node, broker)
  const sub = mosquittoSub(t, [...brokerArgs(node.mqttPort, 'mqttv5'), '-u', 'any', '-P', subToken.token, '-t', 'interop/#', '-d', '-v'])
  assert.deepEqual(await sub.granted, [0])
  const v5 = await issueOne(node, broker)
  const v4 = await issueOne(node, broker)
  assert.equal((await mosquittoPub([...brokerArgs(node.mqttPort, 'mqttv5'), '-u', 'any', '-P', v5.token, '-t', 'interop/v5', '-m', 'five', '-q', '1'])).code, 0)
  assert.equal((await mosquittoPub([...brokerArgs(node.mqttPort, 'mqttv311'), '-u', 'any', '-P', v4.token, '-i', v4.clientId, '-t', 'interop/v311', '-m', 'three', '-q', '1'])).code, 0)
  // The token alone as the username.
  assert.equal((await mosquittoPub([...brokerArgs(node.mqttPort, 'mqttv5'), '-u', v5.token, '-t', 'interop/username', '-m', 'user', '-q', '1'])).code, 0)
  const refused = await mosquittoPub([...brokerArgs(node.mqttPort, 'mqttv311'), '-u', 'any', '-P', v4.token, '-i', 'not-the-token-id', '-t', 'interop/x', '-m', 'x'])
  assert.notEqual(refused.code, 0)
  assert.match(refused.stderr, /identifier rejected/i)
  const noToken = await mosquittoPub([...brokerArgs(node.mqttPort, 'mqttv5'), '-t', 'interop/x', '-m', 'x'])
  assert.notEqual(noToken.code, 0)
  assert.match(noToken.stderr, /not authori[sz]ed/i)
  await waitFor(() => sub.messages().length === 3, 5000, 'three messages at mosquitto_sub')
  assert.deepEqual(sub.messages().sort(), ['interop/username user', 'interop/v311 three', 'interop/v5 five'])
})

test('key rotation: tokens of the old key stay valid until it is retired, then are refused (0x86)', async (t) => {
  const { node, broker } = await tokenNode(t)
  const tokens = node.node.identity.tokens
  const old = await issueOne(node, broker)
  const oldKid = (JSON.parse(Buffer.from(old.token.split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid
  await tokens.rotateKey(broker)
  const fresh = await issueOne(node, broker)
  await stopClient(await connectClient(t, node.url, { protocolVersion: 5, password: old.token, username: 'x' }))
  await stopClient(await connectClient(t, node.url, { protocolVersion: 5, password: fresh.token, username: 'x' }))
  await tokens.retireKey(broker, oldKid)
  assert.equal(await refusedCode(node.url, { protocolVersion: 5, password: old.token, username: 'x' }), 0x86)
  await stopClient(await connectClient(t, node.url, { protocolVersion: 5, password: fresh.token, username: 'x' }))
})

test('repeated failures from one address slow down its CONNECTs (doubling delay, bounded)', async (t) => {
  const { node, broker } = await tokenNode(t, { 'auth.failureDelayMaxMs': 400 })
  const timed = async (password: string): Promise<{ code: number | undefined, ms: number }> => {
    const started = Date.now()
    const code = await refusedCode(node.url, { protocolVersion: 5, username: 'x', password }).catch(() => -1)
    return { code, ms: Date.now() - started }
  }
  const first = await timed('wrong')
  assert.equal(first.code, 0x86)
  assert.ok((await timed('wrong')).ms >= 90) // 100 ms after 1 failure
  assert.ok((await timed('wrong')).ms >= 190) // 200 ms after 2
  const bounded = await timed('wrong') // 400 ms after 3
  assert.ok(bounded.ms >= 390 && bounded.ms < 1500, `${bounded.ms} ms`)
  const capped = await timed('wrong') // still 400 ms after 4: the bound
  assert.ok(capped.ms >= 390 && capped.ms < 1500, `${capped.ms} ms`)
  // A valid token from the same address is slowed as much, then admitted.
  const { token } = await issueOne(node, broker)
  const started = Date.now()
  await stopClient(await connectClient(t, node.url, { protocolVersion: 5, username: 'x', password: token }))
  assert.ok(Date.now() - started >= 390)
})

test('packets sent behind a CONNECT still being decided wait for its outcome: after a refusal none is processed, after an acceptance all are, after the CONNACK [MQTT-3.1.4-5] [MQTT-3.1.4-7]', async (t) => {
  // The failure slow-down holds each CONNECT's answer: the packets written meanwhile reach the
  // broker in reads of their own while the CONNECT is undecided.
  const { node, broker } = await tokenNode(t, { 'auth.failureDelayMaxMs': 2000 })
  const issued = await node.node.identity.tokens.issue(broker, { number: 2, topicAcl: { publish: ['#'], subscribe: ['#'] } })
  const [watcherToken, deviceToken] = Object.values(issued) as [string, string]
  const watcher = await connectClient(t, node.url, { protocolVersion: 5, username: 'x', password: watcherToken })
  await watcher.subscribeAsync('before/#', { qos: 1 })
  const seen = collect(watcher)
  for (let i = 0; i < 2; i++) assert.equal(await refusedCode(node.url, { protocolVersion: 5, username: 'x', password: 'wrong' }), 0x86)

  const refused = await rawConnect(t, node.mqttPort, 5)
  refused.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: '', username: 'x', password: Buffer.from('wrong') })
  await sleep(50)
  refused.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'before/#', qos: 1 }] })
  refused.send({ cmd: 'publish', topic: 'before/refused', payload: Buffer.from('never'), qos: 1, messageId: 2, retain: false, dup: false })
  const refusal = await refused.next('connack', 5000) as { reasonCode?: number }
  assert.equal(refusal.reasonCode, 0x86)
  await refused.waitClosed()
  assert.deepEqual(refused.received.map((p) => p.cmd), ['connack'], 'no SUBACK, no PUBACK: nothing after a refused CONNECT was processed')

  const accepted = await rawConnect(t, node.mqttPort, 5)
  accepted.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: '', username: 'x', password: Buffer.from(deviceToken) })
  await sleep(50)
  accepted.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'before/#', qos: 1 }] })
  accepted.send({ cmd: 'publish', topic: 'before/accepted', payload: Buffer.from('after the CONNACK'), qos: 1, messageId: 2, retain: false, dup: false })
  await accepted.next('puback', 5000)
  await accepted.next('publish', 5000)
  const order = accepted.received.map((p) => p.cmd)
  assert.equal(order[0], 'connack', order.join(', '))
  assert.deepEqual(order.slice(1).filter((cmd) => cmd !== 'publish').sort(), ['puback', 'suback'], order.join(', '))
  assert.ok(order.includes('publish'), 'its own message came back on the subscription made before the CONNACK')
  await waitFor(() => seen.some((m) => m.topic === 'before/accepted'), 5000, 'the accepted client\'s message')
  assert.deepEqual(seen.map((m) => m.topic), ['before/accepted'], 'the refused client\'s PUBLISH never reached a subscriber')
})

test('no tenancy configured (embedded default): the default broker is NONE and anonymous clients connect as before', async (t) => {
  const node = await startTestNode(t, { 'auth.defaultBrokerAuthType': 'auto' })
  const broker = await node.node.identity.tenancy.getBroker('default', 'default')
  assert.equal(broker.authType, 'NONE')
  const { connack } = await connectWithAck(t, node.url, { protocolVersion: 5, clientId: 'plain', username: 'u', password: 'p' })
  assert.equal(connack.reasonCode, 0)
  assert.equal(connack.properties?.assignedClientIdentifier, undefined)
})

test('JWKS broker: a token of the operator\'s provider (JWKS served on 127.0.0.1) connects with the mapped client id and topic ACL', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...await exportJWK(publicKey), kid: 'k1', alg: 'ES256', use: 'sig' }
  const server = createServer((req, res) => {
    if (req.url !== '/jwks.json') { res.writeHead(404).end(); return }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`
  const { node } = await tokenNode(t)
  await node.node.identity.tenancy.updateBroker('default', 'default', {
    authType: 'JWKS',
    jwks: { url, issuer: 'https://idp.test/', audience: 'mqtt', clientIdClaim: 'device', publishClaim: 'pub' }
  })
  const sign = (claims: Record<string, unknown>, key = privateKey): Promise<string> =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.test/').setAudience('mqtt').setIssuedAt().setExpirationTime('1h').sign(key)
  const token = await sign({ device: 'sensor-7', pub: ['sensors/sensor-7/#'] })
  const { client, connack } = await connectWithAck(t, node.url, { protocolVersion: 5, username: 'x', password: token })
  assert.equal(connack.properties?.assignedClientIdentifier, 'sensor-7')
  const codes: number[] = []
  client.on('packetreceive', (packet) => { if (packet.cmd === 'puback') codes.push(packet.reasonCode ?? 0) })
  await client.publishAsync('sensors/sensor-7/t', '1', { qos: 1 })
  await client.publishAsync('sensors/other/t', '1', { qos: 1 }).catch(() => {})
  await waitFor(() => codes.length === 2, 2000, 'PUBACKs')
  assert.deepEqual(codes, [0, 0x87])
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  assert.equal(await refusedCode(node.url, { protocolVersion: 5, username: 'x', password: await sign({ device: 'd' }, stranger.privateKey) }), 0x86)
  assert.equal(await refusedCode(node.url, { protocolVersion: 4, clientId: 'd', username: 'x', password: await sign({ device: 'd' }, stranger.privateKey) }), 4)
})
