import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { IClientOptions, IDisconnectPacket } from 'mqtt'
import { collect, connectClient, endClient, sleep, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// Wills across pods. A pod that dies (SIGKILL) is noticed by the others after 3 missed
// heartbeats; one survivor publishes each of its clients' wills, once, unless the client has
// connected again elsewhere [MQTT-3.1.2-8] [MQTT-3.1.3-9]. A graceful drain closes connections
// without the client's DISCONNECT, so their wills are published too (MQTT 5 §3.1.2.5: "the
// Server closes the Network Connection without first receiving a DISCONNECT packet with Reason
// Code 0x00"), except where a Will Delay Interval lets the client reconnect on another pod first.

const HEARTBEAT_MS = 250
/** Dead after 3 heartbeats, swept every 4: published within ~7 intervals, plus slack. */
const WILL_BOUND_MS = 7 * HEARTBEAT_MS + 2500

function withWill (protocolVersion: 4 | 5, clientId: string, topic: string, willDelayInterval = 0): IClientOptions {
  return {
    protocolVersion,
    clientId,
    keepalive: 60,
    // A will is published when its session ends at the latest: a delayed one needs a session that outlives the connection.
    ...(willDelayInterval > 0 ? { properties: { sessionExpiryInterval: 120 } } : {}),
    will: {
      topic,
      payload: Buffer.from(`${clientId} gone`),
      qos: 1,
      retain: false,
      ...(willDelayInterval > 0 ? { properties: { willDelayInterval } } : {})
    }
  } as IClientOptions
}

function payloads (got: readonly Received[], topic: string): string[] {
  return got.filter((m) => m.topic === topic).map((m) => m.payload.toString())
}

async function watcher (t: TestContext, url: string, clientId: string): Promise<Received[]> {
  const client = await connectClient(t, url, { protocolVersion: 5, clientId })
  await client.subscribeAsync('will/#', { qos: 1 })
  return collect(client)
}

test('cluster: wills when a pod dies or drains', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], {
    redisUrl: redis.url,
    env: { STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }
  })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)

  await t.test('SIGKILL of the pod holding the clients: a survivor publishes each will once, in bounded time; not for a client back elsewhere', async (t) => {
    const onB = await watcher(t, b.url, 'watch-b')
    const onC = await watcher(t, c.url, 'watch-c')
    await connectClient(t, a.url, withWill(5, 'dead-5', 'will/dead-5'))
    await connectClient(t, a.url, withWill(4, 'dead-4', 'will/dead-4'))
    await connectClient(t, a.url, withWill(5, 'back-5', 'will/back-5'))
    await sleep(100)

    const killedAt = Date.now()
    await a.kill('SIGKILL')
    // Back on B before the survivors notice A is dead: its old will must not be published.
    await connectClient(t, b.url, { protocolVersion: 5, clientId: 'back-5' })

    const both = (): boolean => [onB, onC].every((got) => payloads(got, 'will/dead-5').length >= 1 && payloads(got, 'will/dead-4').length >= 1)
    await waitFor(both, WILL_BOUND_MS, 'the wills of the dead pod\'s clients')
    assert.ok(Date.now() - killedAt <= WILL_BOUND_MS)
    await sleep(8 * HEARTBEAT_MS) // two more sweeps by both survivors: prove no second copy
    for (const got of [onB, onC]) {
      assert.deepEqual(payloads(got, 'will/dead-5'), ['dead-5 gone'], 'v5 will exactly once')
      assert.deepEqual(payloads(got, 'will/dead-4'), ['dead-4 gone'], '3.1.1 will exactly once')
      assert.deepEqual(payloads(got, 'will/back-5'), [], 'no will for the client connected again')
    }
  })

  await t.test('graceful drain (SIGTERM): wills published once (server closed without DISCONNECT 0x00); a delayed will is cancelled by a reconnect on another pod', async (t) => {
    const onC = await watcher(t, c.url, 'watch-c2')
    await connectClient(t, b.url, withWill(5, 'drain-5', 'will/drain-5'))
    await connectClient(t, b.url, withWill(4, 'drain-4', 'will/drain-4'))
    const normal = await connectClient(t, b.url, withWill(5, 'normal-5', 'will/normal-5'))
    const delayed = await connectClient(t, b.url, withWill(5, 'delayed-5', 'will/delayed-5', 60))
    let reason: number | undefined
    delayed.on('disconnect', (packet: IDisconnectPacket) => { reason = packet.reasonCode })
    await endClient(normal) // DISCONNECT 0x00 deletes the will [MQTT-3.1.2-10]

    const stopped = b.kill('SIGTERM', 8000)
    await waitFor(() => reason !== undefined, 5000, 'DISCONNECT from the draining pod')
    assert.equal(reason, 0x8b, 'Server shutting down')
    // The client moves to another pod within its Will Delay Interval.
    const moved: MqttClient = await connectClient(t, c.url, { protocolVersion: 5, clientId: 'delayed-5' })
    assert.equal((await stopped).code, 0)

    await waitFor(() => payloads(onC, 'will/drain-5').length >= 1 && payloads(onC, 'will/drain-4').length >= 1, WILL_BOUND_MS, 'the drained clients\' wills')
    await sleep(7 * HEARTBEAT_MS + 4 * HEARTBEAT_MS) // past the dead-pod sweep of B's leftovers
    assert.deepEqual(payloads(onC, 'will/drain-5'), ['drain-5 gone'])
    assert.deepEqual(payloads(onC, 'will/drain-4'), ['drain-4 gone'])
    assert.deepEqual(payloads(onC, 'will/normal-5'), [], 'normal DISCONNECT: no will')
    assert.deepEqual(payloads(onC, 'will/delayed-5'), [], 'delayed will cancelled by the reconnect on C')
    assert.equal(moved.connected, true)
  })
})
