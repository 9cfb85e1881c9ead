import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectClient, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'
import { startRedis } from '../helpers/redis.js'

// The Redis offline / in-flight queue of persistent sessions (src/cluster/outgoing-store.ts)
// seen from clients: order and packet ids across reconnects on other pods, QoS 2 state, and
// the Redis work one message costs.

type Version = 4 | 5

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

function ids (client: RawClient, cmd: Packet['cmd']): number[] {
  return client.received.filter((p) => p.cmd === cmd).map((p) => (p as { messageId: number }).messageId)
}

function ack (client: RawClient, version: Version, cmd: 'puback' | 'pubrec' | 'pubcomp', messageIds: readonly number[]): void {
  client.sendBytes(Buffer.concat(messageIds.map((messageId) => mqttPacket.generate({ cmd, messageId } as Packet, { protocolVersion: version }))))
}

async function session (t: TestContext, pod: Pod, version: Version, clientId: string): Promise<RawClient> {
  const connect = version === 5
    ? { protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 1000 } }
    : { protocolVersion: 4 as const, clientId, clean: false }
  const { client } = await rawMqttConnect(t, pod.mqttPort, connect as never)
  return client
}

/** Drops the socket once the pod had a moment to store the acknowledgements just sent. */
async function leave (client: RawClient): Promise<void> {
  await sleep(150)
  client.destroy()
  await sleep(150)
}

function commandCalls (info: readonly string[]): Map<string, number> {
  const calls = new Map<string, number>()
  for (const line of info) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (match?.[1] !== undefined) calls.set(match[1], Number(match[2]))
  }
  return calls
}

test('cluster: persistent-session queues in Redis', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)

  await t.test('QoS 1: the queue resumes in order on another pod; unacknowledged messages come again with DUP=1 and their ids, then live ones', async (t) => {
    const version = 5
    const made = await session(t, a, version, 'pq-order')
    made.send({ cmd: 'subscribe', messageId: 1, properties: {}, subscriptions: [{ topic: 'pq/#', qos: 1 }] } as Packet)
    await made.next('suback')
    await leave(made)

    const pub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'pq-order-pub' })
    const offline = Array.from({ length: 30 }, (_, i) => `p${i}`)
    await Promise.all(offline.map((payload) => pub.publishAsync('pq/x', payload, { qos: 1 })))

    const onC = await session(t, c, version, 'pq-order')
    await waitFor(() => publishes(onC).length >= 30, 5000, 'the queued messages on C')
    const first = publishes(onC)
    assert.deepEqual(first.map((p) => p.payload.toString()), offline, 'in publish order')
    assert.ok(first.every((p) => p.dup === false), 'first delivery: DUP=0')
    const sentIds = first.map((p) => p.messageId as number)
    assert.equal(new Set(sentIds).size, 30, 'distinct packet identifiers')
    ack(onC, version, 'puback', sentIds.slice(0, 10))
    await leave(onC)

    const onA = await session(t, a, version, 'pq-order')
    await waitFor(() => publishes(onA).length >= 20, 5000, 'the unacknowledged messages on A')
    const live = ['live0', 'live1', 'live2']
    for (const payload of live) await pub.publishAsync('pq/x', payload, { qos: 1 })
    await waitFor(() => publishes(onA).length >= 23, 5000, 'the live messages on A')
    await sleep(200) // proves nothing else follows
    const again = publishes(onA)
    assert.deepEqual(again.map((p) => p.payload.toString()), [...offline.slice(10), ...live], 'unacknowledged ones in order, then the live ones')
    assert.deepEqual(again.slice(0, 20).map((p) => [p.messageId, p.dup]), sentIds.slice(10).map((id) => [id, true]), 'same ids, DUP=1 [MQTT-4.4.0-1] [MQTT-3.3.1-1]')
    assert.ok(again.slice(20).every((p) => p.dup === false), 'live ones: DUP=0')
    ack(onA, version, 'puback', again.map((p) => p.messageId as number))
    await leave(onA)

    const onB = await session(t, b, version, 'pq-order')
    await sleep(400) // proves nothing is redelivered
    assert.deepEqual(publishes(onB), [], 'every acknowledged message is gone from the queue')
    await leave(onB)
  })

  await t.test('QoS 2 delivered live on one pod: after PUBREC only the PUBRELs come back, on another pod, once [MQTT-4.3.3-1]', async (t) => {
    const version = 4
    const onB = await session(t, b, version, 'pq-q2')
    onB.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'pq2/#', qos: 2 }] } as Packet)
    await onB.next('suback')
    const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'pq-q2-pub' })
    const payloads = ['q0', 'q1', 'q2', 'q3', 'q4']
    await Promise.all(payloads.map((payload) => pub.publishAsync('pq2/x', payload, { qos: 2 })))
    await waitFor(() => publishes(onB).length >= 5, 5000, 'the live QoS 2 messages on B')
    const sent = publishes(onB)
    assert.deepEqual(sent.map((p) => p.payload.toString()), payloads)
    const sentIds = sent.map((p) => p.messageId as number)
    ack(onB, version, 'pubrec', sentIds)
    await waitFor(() => ids(onB, 'pubrel').length >= 5, 5000, 'the PUBRELs on B')
    ack(onB, version, 'pubcomp', sentIds.slice(0, 2))
    await leave(onB)

    const onC = await session(t, c, version, 'pq-q2')
    await waitFor(() => ids(onC, 'pubrel').length >= 3, 5000, 'the PUBRELs on C')
    await sleep(200) // proves no PUBLISH follows
    assert.deepEqual(ids(onC, 'pubrel'), sentIds.slice(2), 'the unfinished flows, in order, with their ids')
    assert.deepEqual(publishes(onC), [], 'no PUBLISH again: the client has them [MQTT-4.3.3-1]')
    ack(onC, version, 'pubcomp', sentIds.slice(2))
    await leave(onC)

    const onA = await session(t, a, version, 'pq-q2')
    await sleep(400)
    assert.deepEqual(onA.received.filter((p) => p.cmd !== 'connack').map((p) => p.cmd), [], 'exactly once: nothing comes back')
    await leave(onA)
  })

  await t.test('a QoS 1 message into a persistent session on another pod costs at most 3 Redis script calls besides its PUBLISH, none of the plugin per-message commands', async (t) => {
    const sub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'pq-cost', clean: false, properties: { sessionExpiryInterval: 300 } })
    await sub.subscribeAsync({ 'pqc/#': { qos: 1 } })
    let got = 0
    sub.on('message', () => { got++ })
    const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'pq-cost-pub' })
    await sleep(300) // the subscription reaches pod A
    await redis.cli(['CONFIG', 'RESETSTAT'])
    const n = 200
    for (let i = 0; i < n; i++) await pub.publishAsync('pqc/x', String(i), { qos: 1 })
    await waitFor(() => got >= n, 5000, 'every message')
    await sleep(200) // the last PUBACKs reach Redis
    const calls = commandCalls(await redis.cli(['INFO', 'commandstats']))
    // (commandstats also counts the commands run inside scripts: RPUSH, HSET, LREM... are not asserted)
    // (the pods' background work, e.g. will sweeps, issues a few of these too: none per message)
    for (const old of ['mset', 'get', 'set', 'decr', 'lrange']) {
      assert.ok((calls.get(old) ?? 0) < n / 10, `${calls.get(old) ?? 0} ${old.toUpperCase()} (aedes-persistence-redis' queue) for ${n} messages`)
    }
    const scripts = (calls.get('evalsha') ?? 0) + (calls.get('eval') ?? 0)
    // enqueue, sent-with-id, acknowledged; background scripts of the three pods fit in the slack
    assert.ok(scripts <= 3 * n + 30, `${scripts} script calls for ${n} messages`)
  })
})

test('cluster: the offline-queue cap drops nothing for a session that keeps up, and holds for one that is away', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: redis.url, env: { STARLING_LIMITS_MAX_QUEUED_MESSAGES: '100' } })
  assert.ok(a !== undefined && b !== undefined)
  const options = { protocolVersion: 5 as const, clientId: 'pq-cap', clean: false, properties: { sessionExpiryInterval: 300 } }
  const sub = await connectClient(t, b.url, options)
  await sub.subscribeAsync({ 'pqcap/#': { qos: 1 } })
  const got: string[] = []
  sub.on('message', (_topic, payload) => got.push(payload.toString()))
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'pq-cap-pub' })
  await sleep(300) // the subscription reaches pod A

  // One message at a time, each received before the next: the session's real queue never holds
  // more than one, but pod A (which never sees its PUBACKs) counts +1 per message and passes the
  // cap of 100 in its own estimate; its recount from Redis must land before that, so no drop.
  const total = 150
  for (let i = 0; i < total; i++) {
    await pub.publishAsync('pqcap/x', String(i), { qos: 1 })
    await waitFor(() => got.length > i, 5000, `message ${i}`)
  }
  assert.deepEqual(got, Array.from({ length: total }, (_, i) => String(i)))
  const metricsA = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text()
  assert.doesNotMatch(metricsA, /starling_messages_dropped_total\{reason="queue_full"[^}]*\} [1-9]/, 'no drop')

  // Away: the first 100 are kept, later ones dropped.
  await sub.endAsync()
  await sleep(200)
  for (let i = 0; i < 130; i++) {
    await pub.publishAsync('pqcap/y', `y${i}`, { qos: 1 })
    if (i % 10 === 9) await sleep(20) // lets pod A's background recount land: the cap is then exact
  }
  const back = resumeSession(t, a.url, options)
  await waitFor(() => back.length >= 100, 5000, 'the kept messages')
  await sleep(300) // proves no more follow
  assert.deepEqual(back.map((m) => m.payload.toString()), Array.from({ length: 100 }, (_, i) => `y${i}`), 'the first 100, in order')
})
