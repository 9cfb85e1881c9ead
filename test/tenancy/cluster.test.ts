import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { collect, connectClient, connectWithAck, endClient, sleep, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { makeTestPki } from '../helpers/certs.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { ALPHA, BETA, startTenancyNode, type BrokerEntry, type TenancyNode } from '../helpers/tenancy.js'

// Two pods (in-process nodes) on one real Redis: the bus, sessions, retained index, groups,
// wills and takeovers of one broker's space stay in it across pods.

async function twoPods (t: TestContext): Promise<[TenancyNode, TenancyNode, TestRedis]> {
  const redis = await startRedis(t)
  const pki = makeTestPki(t)
  const one = await startTenancyNode(t, { nodeId: 'pod-1', redisUrl: redis.url, pki })
  const two = await startTenancyNode(t, { nodeId: 'pod-2', redisUrl: redis.url, pki })
  return [one, two, redis]
}

function opener (t: TestContext) {
  return async (pod: TenancyNode, broker: BrokerEntry | undefined, options: IClientOptions): Promise<MqttClient> =>
    broker === undefined
      ? await connectClient(t, pod.mqttUrl, { protocolVersion: 5, ...options })
      : await connectClient(t, ...pod.ws(broker, { protocolVersion: 5, ...options }))
}

const payloads = (got: readonly Received[]): string[] => got.map((m) => `${m.topic}=${m.payload.toString()}`).sort()

test('two pods: messages, retained, shared groups and wills of one broker stay in its space', async (t) => {
  const [one, two] = await twoPods(t)
  const open = opener(t)
  const pubA = await open(two, ALPHA, { clientId: 'pub' })
  const pubB = await open(two, BETA, { clientId: 'pub' })
  await pubA.publishAsync('r/1', 'ra', { qos: 1, retain: true })
  await pubB.publishAsync('r/1', 'rb', { qos: 1, retain: true })

  const subA = await open(one, ALPHA, { clientId: 'sub' })
  const subB = await open(one, BETA, { clientId: 'sub' })
  const subD = await open(one, undefined, { clientId: 'sub' })
  const gotA = collect(subA)
  const gotB = collect(subB)
  const gotD = collect(subD)
  await subA.subscribeAsync({ '#': { qos: 1 } })
  await subB.subscribeAsync({ 'r/+': { qos: 1 }, 't/#': { qos: 1 }, 'will/#': { qos: 1 } })
  await subD.subscribeAsync({ '#': { qos: 1 } })
  const members = [await open(one, ALPHA, { clientId: 'm1' }), await open(two, ALPHA, { clientId: 'm2' }), await open(one, BETA, { clientId: 'm1' })]
  const gotMembers = members.map(collect)
  for (const member of members) await member.subscribeAsync('$share/g/s', { qos: 1 })
  await waitFor(() => gotA.length === 1 && gotB.length === 1, 5000, 'retained messages across pods')

  const willA = await open(two, ALPHA, { clientId: 'w', will: { topic: 'will/w', payload: Buffer.from('gone-a'), qos: 1, retain: false } })
  await pubA.publishAsync('t/1', 'a', { qos: 1 })
  await pubB.publishAsync('t/1', 'b', { qos: 1 })
  await pubA.publishAsync('$app/x', 'dollar', { qos: 1 })
  for (let i = 0; i < 4; i++) {
    await pubA.publishAsync('s', `sa${i}`, { qos: 1 })
    await pubB.publishAsync('s', `sb${i}`, { qos: 1 })
  }
  willA.stream.destroy()
  // subA's `#` also gets alpha's `s` messages (an ordinary subscription beside the group).
  await waitFor(() => gotA.length === 7 && gotB.length === 2, 5000, 'messages and the will')
  await waitFor(() => gotMembers[0]!.length + gotMembers[1]!.length === 4 && gotMembers[2]!.length === 4, 5000, 'shared messages')
  await sleep(300)
  assert.deepEqual(payloads(gotA), ['r/1=ra', 's=sa0', 's=sa1', 's=sa2', 's=sa3', 't/1=a', 'will/w=gone-a'])
  assert.deepEqual(payloads(gotB), ['r/1=rb', 't/1=b'])
  assert.deepEqual(gotD, [])
  assert.deepEqual(payloads([...gotMembers[0]!, ...gotMembers[1]!]), ['s=sa0', 's=sa1', 's=sa2', 's=sa3'])
  assert.deepEqual(payloads(gotMembers[2]!), ['s=sb0', 's=sb1', 's=sb2', 's=sb3'])
})

test('two pods: the same client id in two brokers is two sessions; a takeover stays within its broker', async (t) => {
  const [one, two] = await twoPods(t)
  const open = opener(t)
  const a = await open(one, ALPHA, { clientId: 'same' })
  const b = await open(two, BETA, { clientId: 'same' })
  const d = await open(two, undefined, { clientId: 'same' })
  const kicked: number[] = []
  for (const c of [a, b, d]) c.on('disconnect', (packet) => kicked.push(packet.reasonCode ?? 0))
  await sleep(500)
  assert.ok(a.connected && b.connected && d.connected)
  assert.deepEqual(kicked, [])
  // The same broker and id on the other pod takes that session over, and only that one [MQTT-3.1.4-2].
  const again = await open(two, ALPHA, { clientId: 'same' })
  await waitFor(() => kicked.length === 1, 5000, 'the takeover')
  await sleep(300)
  assert.deepEqual(kicked, [0x8e])
  assert.ok(!a.connected && again.connected && b.connected && d.connected)
})

test('two pods: a persistent session resumes inside its broker, with only its own queued messages', async (t) => {
  const [one, two] = await twoPods(t)
  const open = opener(t)
  const session = (broker: BrokerEntry): [string, IClientOptions] =>
    two.ws(broker, { protocolVersion: 5, clientId: 'dev', clean: false, properties: { sessionExpiryInterval: 300 } })
  for (const broker of [ALPHA, BETA]) {
    const first = await connectClient(t, ...one.ws(broker, { protocolVersion: 5, clientId: 'dev', clean: false, properties: { sessionExpiryInterval: 300 } }))
    await first.subscribeAsync({ '#': { qos: 1 } })
    await endClient(first)
  }
  const pubA = await open(one, ALPHA, { clientId: 'pub' })
  const pubB = await open(two, BETA, { clientId: 'pub' })
  await pubA.publishAsync('q/1', 'for-alpha', { qos: 1 })
  // The tenant's own `$` topic: not queued for its `#` [MQTT-4.7.2-1].
  await pubA.publishAsync('$app/q', 'dollar', { qos: 1 })
  await pubB.publishAsync('q/1', 'for-beta', { qos: 1 })

  const alpha = await connectWithAck(t, ...session(ALPHA))
  const beta = await connectWithAck(t, ...session(BETA))
  assert.equal(alpha.connack.sessionPresent, true)
  assert.equal(beta.connack.sessionPresent, true)
  await waitFor(() => alpha.got.length === 1 && beta.got.length === 1, 5000, 'queued messages')
  await sleep(300)
  assert.deepEqual(payloads(alpha.got), ['q/1=for-alpha'])
  assert.deepEqual(payloads(beta.got), ['q/1=for-beta'])
})

test('two pods: a drained pod\'s tenant will is published in its broker\'s space', async (t) => {
  const [one, two] = await twoPods(t)
  const open = opener(t)
  const subA = await open(two, ALPHA, { clientId: 'sub' })
  const subB = await open(two, BETA, { clientId: 'sub' })
  const gotA = collect(subA)
  const gotB = collect(subB)
  await subA.subscribeAsync({ 'will/#': { qos: 1 } })
  await subB.subscribeAsync({ 'will/#': { qos: 1 } })
  await open(one, ALPHA, { clientId: 'w', will: { topic: 'will/w', payload: Buffer.from('gone-a'), qos: 1, retain: false } })
  // The pod closes the connection (DISCONNECT 0x8B), not the client: the will is due [MQTT-3.1.2-8].
  await one.node.close()
  await waitFor(() => gotA.length === 1, 5000, 'the will')
  await sleep(300)
  assert.deepEqual(payloads(gotA), ['will/w=gone-a'])
  assert.deepEqual(gotB, [])
})

test('two pods: tenants\' topics spread over the bus channels; tenant clients do not make a pod listen on every channel', async (t) => {
  const [one, two, redis] = await twoPods(t)
  const open = opener(t)
  const channels = async (): Promise<number> => (await redis.cli(['PUBSUB', 'CHANNELS', '*bus:*'])).filter((line) => line !== '').length
  const idle = await channels()
  const sub = await open(one, ALPHA, { clientId: 'sub' })
  await sub.subscribeAsync(['devices/1/temp', 'site/a/b/#'], { qos: 1 })
  await open(two, BETA, { clientId: 'sub' })
  // Two filters literal in their route levels (cluster.messageRouteLevels, 3): at most two more channels (of 64), not all of them.
  assert.ok(await channels() <= idle + 2, `${await channels()} channels, ${idle} before`)
  const got = collect(sub)
  const pub = await open(two, ALPHA, { clientId: 'pub' })
  await pub.publishAsync('devices/1/temp', '21', { qos: 1 })
  await pub.publishAsync('site/a/b/c', 'x', { qos: 1 })
  await waitFor(() => got.length === 2, 5000, 'messages across pods')
})
