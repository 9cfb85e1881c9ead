import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, connectWithAck, endClient, expiringSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// MQTT 5 Session Expiry is cluster-wide: the deadline of a disconnected session lives in Redis,
// any pod resumes the session before it, every pod sweeps it after it, also when the pod the
// client left has died [MQTT-3.1.2-23] [MQTT-3.14.2-2]. 3.1.1 persistent sessions never expire.

const HEARTBEAT_MS = 250

test('cluster: MQTT 5 session expiry across pods', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], {
    redisUrl: redis.url,
    env: { STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }
  })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)
  const pub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'exp-pub' })

  await t.test('a new interval in DISCONNECT is honoured on every pod, longer or shorter [MQTT-3.14.2-2]', async (t) => {
    // CONNECT 1 s, DISCONNECT 30 s: alive after 1 s; CONNECT 30 s, DISCONNECT 1 s: gone after 1 s.
    const longer = await connectWithAck(t, a.url, expiringSession('exp-longer', 1))
    const shorter = await connectWithAck(t, a.url, expiringSession('exp-shorter', 30))
    await longer.client.subscribeAsync('disc/longer', { qos: 1 })
    await shorter.client.subscribeAsync('disc/shorter', { qos: 1 })
    await endClient(longer.client, { properties: { sessionExpiryInterval: 30 } })
    await endClient(shorter.client, { properties: { sessionExpiryInterval: 1 } })
    await sleep(1000 + 4 * HEARTBEAT_MS)
    await pub.publishAsync('disc/longer', 'kept', { qos: 1 })
    await pub.publishAsync('disc/shorter', 'lost', { qos: 1 })

    const back = await connectWithAck(t, c.url, expiringSession('exp-longer', 30))
    assert.equal(back.connack.sessionPresent, true, 'the session extended by DISCONNECT is still there')
    await waitFor(() => back.got.length >= 1, 5000, 'the queued message')
    assert.deepEqual(back.got.map((m) => m.payload.toString()), ['kept'])
    const gone = await connectWithAck(t, b.url, expiringSession('exp-shorter', 30))
    assert.equal(gone.connack.sessionPresent, false, 'the session shortened by DISCONNECT expired')
    await sleep(300) // proves nothing is delivered
    assert.deepEqual(gone.got, [])
  })

  await t.test('resumed on B within the interval; after it, gone everywhere although A was SIGKILLed', async (t) => {
    const made = await connectWithAck(t, a.url, expiringSession('exp-roam', 2))
    await made.client.subscribeAsync('roam/#', { qos: 1 })
    await endClient(made.client)
    // 3.1.1 persistent sessions never expire: made alongside, checked at the end.
    const legacy = await connectClient(t, a.url, { protocolVersion: 4, clientId: 'exp-legacy', clean: false })
    await legacy.subscribeAsync('legacy/#', { qos: 1 })
    await endClient(legacy)

    await pub.publishAsync('roam/1', 'q1', { qos: 1 })
    const onB = await connectWithAck(t, b.url, expiringSession('exp-roam', 2))
    assert.equal(onB.connack.sessionPresent, true, 'resumed on B within the interval')
    await waitFor(() => onB.got.length >= 1, 5000, 'the queued message on B')
    assert.deepEqual(onB.got.map((m) => m.payload.toString()), ['q1'])
    await endClient(onB.client)

    // Last seen on A, which then dies: the expiry must not live in A's timers.
    const onA = await connectWithAck(t, a.url, expiringSession('exp-roam', 2))
    assert.equal(onA.connack.sessionPresent, true)
    await endClient(onA.client)
    await sleep(100)
    await a.kill('SIGKILL')
    await pub.publishAsync('roam/2', 'q2', { qos: 1 })
    await pub.publishAsync('legacy/1', 'l1', { qos: 1 })
    await sleep(2000 + 4 * HEARTBEAT_MS)
    await pub.publishAsync('roam/3', 'q3', { qos: 1 })

    const onC = await connectWithAck(t, c.url, expiringSession('exp-roam', 2))
    assert.equal(onC.connack.sessionPresent, false, 'expired: no session on C')
    await sleep(300) // proves nothing queued is delivered
    assert.deepEqual(onC.got, [], 'neither the message queued before expiry nor one published after')

    const legacyBack = await connectWithAck(t, c.url, { protocolVersion: 4, clientId: 'exp-legacy', clean: false })
    assert.equal(legacyBack.connack.sessionPresent, true, '3.1.1 persistent session kept')
    await waitFor(() => legacyBack.got.length >= 1, 5000, 'the 3.1.1 queued message')
    assert.deepEqual(legacyBack.got.map((m) => m.payload.toString()), ['l1'])
  })
})
