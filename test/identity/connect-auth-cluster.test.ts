import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IDisconnectPacket } from 'mqtt-packet'
import type { Identity } from '../../src/tenancy/identity.js'
import type { BrokerRecord } from '../../src/tenancy/types.js'
import { collect, connectClient, connectWithAck, refusedCode, stopClient, waitFor, type MqttClient } from '../helpers/clients.js'
import { identityConfig, openIdentity } from '../helpers/identity.js'
import { scrape, value } from '../helpers/metrics.js'
import { brokerArgs, mosquittoPub, mosquittoSub } from '../helpers/mosquitto.js'
import { POD_SECRET_KEY, startPods, type Pod } from '../helpers/pods.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

/** Two pods on one Redis whose default broker needs tokens, and the operator's side of the same store. */
async function tokenCluster (t: TestContext): Promise<{ redis: TestRedis, a: Pod, b: Pod, identity: Identity, broker: BrokerRecord }> {
  const redis = await startRedis(t)
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], {
    redisUrl: redis.url,
    env: { STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'TOKEN', STARLING_AUTH_FAILURE_DELAY_MAX_MS: '0' }
  }) as [Pod, Pod]
  const identity = await openIdentity(t, identityConfig({ redis: { url: redis.url }, auth: { secretKey: POD_SECRET_KEY, defaultBrokerAuthType: 'TOKEN' } }))
  const broker = await identity.tenancy.getBroker('default', 'default')
  return { redis, a, b, identity, broker }
}

async function issueOne (identity: Identity, broker: BrokerRecord, options: Parameters<Identity['tokens']['issue']>[1] = { number: 1 }): Promise<{ clientId: string, token: string }> {
  const [clientId, token] = Object.entries(await identity.tokens.issue(broker, options))[0] as [string, string]
  return { clientId, token }
}

function jtiOf (token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti
}

function serverDisconnect (client: MqttClient): Promise<{ code: number | 'closed', at: number }> {
  return new Promise((resolve) => {
    client.once('disconnect', (packet: IDisconnectPacket) => resolve({ code: packet.reasonCode ?? 0, at: Date.now() }))
    client.once('close', () => resolve({ code: 'closed', at: Date.now() }))
  })
}

test('two pods: tokens issued by the operator connect on either pod (mqtt.js and Mosquitto, 3.1.1 and 5); anonymous and foreign clients are refused and counted', async (t) => {
  const { a, b, identity, broker } = await tokenCluster(t)
  const sub = await issueOne(identity, broker)
  const pub = await issueOne(identity, broker)
  // The seed's example options (plus `username: ''`, see test/identity/connect-auth.test.ts) against pod B.
  const { client: subscriber, connack } = await connectWithAck(t, b.url, { password: sub.token, protocolVersion: 5, username: '' })
  assert.equal(connack.properties?.assignedClientIdentifier, sub.clientId)
  const got = collect(subscriber)
  await subscriber.subscribeAsync('example-topic', { qos: 1 })
  const publisher = await connectClient(t, a.url, { protocolVersion: 4, clientId: pub.clientId, username: 'x', password: pub.token })
  await publisher.publishAsync('example-topic', 'across pods', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the message on the other pod')

  const v5 = await issueOne(identity, broker)
  const v4 = await issueOne(identity, broker)
  const msub = mosquittoSub(t, [...brokerArgs(a.mqttPort, 'mqttv311'), '-u', 'x', '-P', v4.token, '-i', v4.clientId, '-t', 'm/#', '-d', '-v'])
  assert.deepEqual(await msub.granted, [0])
  assert.equal((await mosquittoPub([...brokerArgs(b.mqttPort, 'mqttv5'), '-u', 'x', '-P', v5.token, '-t', 'm/five', '-m', 'hello'])).code, 0)
  await waitFor(() => msub.messages().length === 1, 5000, 'mosquitto_sub got it')
  assert.deepEqual(msub.messages(), ['m/five hello'])

  assert.equal(await refusedCode(a.url, { protocolVersion: 5, clientId: 'anonymous' }), 0x87)
  assert.equal(await refusedCode(b.url, { protocolVersion: 4, clientId: 'anonymous', username: 'u', password: 'not a token' }), 4)
  assert.equal(value(await scrape(a.httpPort), 'starling_connects_refused_total', { reason: 'token_missing' }), 1)
  assert.equal(value(await scrape(b.httpPort), 'starling_connects_refused_total', { reason: 'token_invalid' }), 1)
  assert.ok(!a.stdout().includes(sub.token) && !b.stdout().includes(sub.token), 'no token in the pods\' logs')
})

test('two pods: revoking a jti cuts off its live client on the other pod within a second (DISCONNECT 0x98) and refuses it everywhere', async (t) => {
  const { a, b, identity, broker } = await tokenCluster(t)
  const victim = await issueOne(identity, broker)
  const bystander = await issueOne(identity, broker)
  const onA = await connectClient(t, a.url, { protocolVersion: 5, username: 'x', password: victim.token })
  const v4 = await issueOne(identity, broker)
  const onB = await connectClient(t, b.url, { protocolVersion: 4, clientId: v4.clientId, username: 'x', password: v4.token })
  const safe = await connectClient(t, b.url, { protocolVersion: 5, username: 'x', password: bystander.token })
  const endedA = serverDisconnect(onA)
  const endedB = serverDisconnect(onB)
  const started = Date.now()
  await identity.tokens.revoke(broker, [jtiOf(victim.token), jtiOf(v4.token)])
  const [ra, rb] = await Promise.all([endedA, endedB])
  assert.equal(ra.code, 0x98)
  assert.equal(rb.code, 'closed')
  assert.ok(ra.at - started < 1000, `pod A cut its client off ${ra.at - started} ms after the revocation`)
  assert.ok(rb.at - started < 1000, `pod B cut its client off ${rb.at - started} ms after the revocation`)
  assert.ok(safe.connected)
  assert.equal(await refusedCode(a.url, { protocolVersion: 5, username: 'x', password: victim.token }), 0x87)
  assert.equal(await refusedCode(b.url, { protocolVersion: 5, username: 'x', password: victim.token }), 0x87)
  assert.equal(value(await scrape(a.httpPort), 'starling_server_disconnects_total', { reason: '0x98' }), 1)
})

test('two pods: a client id moves to another pod only with a valid token for it (takeover 0x8E); key rotation keeps old tokens valid until retired', async (t) => {
  const { a, b, identity, broker } = await tokenCluster(t)
  const owner = await issueOne(identity, broker)
  const other = await issueOne(identity, broker)
  const first = await connectClient(t, a.url, { protocolVersion: 5, clientId: owner.clientId, username: 'x', password: owner.token })
  const ended = serverDisconnect(first)
  assert.equal(await refusedCode(b.url, { protocolVersion: 4, clientId: owner.clientId, username: 'x', password: other.token }), 2)
  const intruder = await connectWithAck(t, b.url, { protocolVersion: 5, clientId: owner.clientId, username: 'x', password: other.token })
  assert.equal(intruder.connack.properties?.assignedClientIdentifier, other.clientId)
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.ok(first.connected, 'another token cannot take the id')
  await connectClient(t, b.url, { protocolVersion: 5, clientId: owner.clientId, username: 'x', password: owner.token })
  assert.equal((await ended).code, 0x8e)

  const kid = (JSON.parse(Buffer.from(owner.token.split('.')[0] as string, 'base64url').toString()) as { kid: string }).kid
  await identity.tokens.rotateKey(broker)
  const fresh = await issueOne(identity, broker)
  // The pods learn the new key from the change notification, or read it on an unknown kid.
  await stopClient(await connectClient(t, a.url, { protocolVersion: 5, username: 'x', password: fresh.token }))
  await stopClient(await connectClient(t, b.url, { protocolVersion: 5, username: 'x', password: other.token }))
  await identity.tokens.retireKey(broker, kid)
  let code: number | undefined
  const deadline = Date.now() + 3000
  do { code = await refusedCode(a.url, { protocolVersion: 5, username: 'x', password: other.token }).catch(() => undefined) } while (code !== 0x86 && Date.now() < deadline)
  assert.equal(code, 0x86, 'a token of the retired key is refused')
  await stopClient(await connectClient(t, a.url, { protocolVersion: 5, username: 'x', password: fresh.token }))
})

test('two pods: Redis restarted empty: the default broker is created again (TOKEN, new keys); new tokens connect, tokens of the lost keys are refused', async (t) => {
  const { redis, a, b, identity, broker: original } = await tokenCluster(t)
  const before = await issueOne(identity, original)
  await stopClient(await connectClient(t, a.url, { protocolVersion: 5, username: 'x', password: before.token }))
  await redis.stop('SIGKILL')
  await redis.start()
  // Every pod and the operator's store race to create it again: one wins, the others read it.
  await waitFor(() => (identity.tenancy.findBroker('default', 'default')?.id ?? original.id) !== original.id, 10000, 'a new default broker in the store')
  const broker = identity.tenancy.findBroker('default', 'default') as BrokerRecord
  assert.equal(broker.authType, 'TOKEN')
  const after = await issueOne(identity, broker)
  // Each pod answers 0x88 (Server unavailable) until its own Redis connections are back.
  for (const pod of [b, a]) {
    let connected = false
    const deadline = Date.now() + 10000
    while (!connected && Date.now() < deadline) {
      try {
        await stopClient(await connectClient(t, pod.url, { protocolVersion: 5, username: 'x', password: after.token }))
        connected = true
      } catch { await new Promise((resolve) => setTimeout(resolve, 100)) }
    }
    assert.ok(connected, `a token of the new default broker connects to ${pod.url} once the pod is ready again`)
  }
  assert.equal(await refusedCode(a.url, { protocolVersion: 5, username: 'x', password: before.token }), 0x86)
})
