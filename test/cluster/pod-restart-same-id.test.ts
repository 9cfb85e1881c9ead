import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { collect, connectClient, connectWithAck, sleep, waitFor } from '../helpers/clients.js'
import { startPod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// A pod killed and restarted at once with the same id (a StatefulSet pod, a one-pod cluster):
// no survivor saw it die, so the restarted pod itself treats the wills and MQTT 5 sessions its
// previous run left as those of lost connections, timed from its start [MQTT-3.1.3-9]
// [MQTT-3.1.2-23]. (Heard alive again under the same id, nobody else would ever publish them.)

const HEARTBEAT_MS = 250

test('cluster: a pod restarted with the same id publishes its previous run\'s wills and expires its sessions', async (t) => {
  const redis = await startRedis(t)
  const env = { STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }
  const first = await startPod(t, 'pod-same', { redisUrl: redis.url, env })
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: 'same-1',
    clean: false,
    properties: { sessionExpiryInterval: 5 },
    will: { topic: 'will/same-1', payload: Buffer.from('same-1 gone'), qos: 1, retain: false, properties: { willDelayInterval: 3 } }
  } as IClientOptions
  const client = await connectClient(t, first.url, options)
  await client.subscribeAsync('same/#', { qos: 1 })
  await sleep(100)
  const killedAt = Date.now()
  await first.kill('SIGKILL')

  const again = await startPod(t, 'pod-same', { redisUrl: redis.url, env })
  const startedAt = Date.now()
  const watcher = await connectClient(t, again.url, { protocolVersion: 5, clientId: 'same-watch' })
  await watcher.subscribeAsync('will/#', { qos: 1 })
  const got = collect(watcher)
  await waitFor(() => got.length >= 1, 3000 + 4 * HEARTBEAT_MS + 3000, 'the previous run\'s will')
  assert.ok(Date.now() - killedAt >= 3000, 'not before its Will Delay Interval (counted from the restart)')
  assert.deepEqual(got.map((m) => m.payload.toString()), ['same-1 gone'])

  await sleep(Math.max(0, startedAt + 5000 + 2 * HEARTBEAT_MS + 500 - Date.now()))
  const { connack } = await connectWithAck(t, again.url, { protocolVersion: 5, clientId: 'same-1', clean: false, properties: { sessionExpiryInterval: 5 } })
  assert.equal(connack.sessionPresent, false, 'the previous run\'s session expired 5 s after the restart')
  assert.deepEqual(got.map((m) => m.payload.toString()), ['same-1 gone'], 'the will once')
})
