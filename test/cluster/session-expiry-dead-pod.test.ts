import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, connectWithAck, expiringSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// MQTT 5 sessions of clients that were CONNECTED when their pod died (SIGKILL): the connection
// loss is dated when the survivors detect the death, and the session expires Session Expiry
// Interval later, cluster-wide [MQTT-3.1.2-23]: subscriptions and queued messages gone, a later
// CONNECT gets Session Present 0. Before that, a reconnect on any pod resumes it.

const HEARTBEAT_MS = 250

test('cluster: sessions connected on a pod that dies expire Session Expiry Interval after the loss', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], {
    redisUrl: redis.url,
    env: { STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }
  })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)
  const pub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'dead-pub' })

  const short = await connectWithAck(t, a.url, expiringSession('dead-short', 2))
  await short.client.subscribeAsync('dead/short', { qos: 1 })
  const long = await connectWithAck(t, a.url, expiringSession('dead-long', 60))
  await long.client.subscribeAsync('dead/long', { qos: 1 })
  const soon = await connectWithAck(t, a.url, expiringSession('dead-soon', 2))
  await soon.client.subscribeAsync('dead/soon', { qos: 1 })
  await sleep(100)

  const killedAt = Date.now()
  await a.kill('SIGKILL')
  await pub.publishAsync('dead/short', 's1', { qos: 1 })
  await pub.publishAsync('dead/long', 'l1', { qos: 1 })
  await pub.publishAsync('dead/soon', 'n1', { qos: 1 })

  // Back on C before its 2 s are up (counted from detection): the session is resumed.
  await sleep(1000)
  const soonBack = await connectWithAck(t, c.url, expiringSession('dead-soon', 2))
  assert.equal(soonBack.connack.sessionPresent, true, 'resumed before expiry')
  await waitFor(() => soonBack.got.length >= 1, 5000, 'the message queued while its pod was dead')
  assert.deepEqual(soonBack.got.map((m) => m.payload.toString()), ['n1'])

  // Detection (3 heartbeats, checked every heartbeat) + 2 s + a sweep, plus slack.
  await sleep(Math.max(0, killedAt + 2000 + 8 * HEARTBEAT_MS + 1000 - Date.now()))
  await pub.publishAsync('dead/short', 's2', { qos: 1 })
  await pub.publishAsync('dead/long', 'l2', { qos: 1 })

  const shortBack = await connectWithAck(t, c.url, expiringSession('dead-short', 2))
  assert.equal(shortBack.connack.sessionPresent, false, 'expired 2 s after the pod\'s death: no session')
  const longBack = await connectWithAck(t, b.url, expiringSession('dead-long', 60))
  assert.equal(longBack.connack.sessionPresent, true, 'a 60 s session is still there')
  await waitFor(() => longBack.got.length >= 2, 5000, 'the long session\'s queued messages')
  assert.deepEqual(longBack.got.map((m) => m.payload.toString()), ['l1', 'l2'])
  await sleep(300) // proves nothing of the expired session is delivered
  assert.deepEqual(shortBack.got, [], 'neither the message queued before expiry nor one published after')
  assert.equal(soonBack.client.connected, true, 'the resumed session is left alone by the sweep')
})
