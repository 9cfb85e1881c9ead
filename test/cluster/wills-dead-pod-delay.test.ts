import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { collect, connectClient, sleep, waitFor, type Received } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// A pod dies (SIGKILL) with MQTT 5 clients whose wills have a Will Delay Interval. The connection
// loss is dated when the survivors detect the death (3 missed heartbeats); each will is published
// by one survivor once its delay has passed from then, or when its session ends if that is first
// [MQTT-3.1.3-9], and not at all when the client connects again on another pod before that
// [MQTT-3.1.2-8]. Before the fix the dead-pod sweep published them all at detection.

const HEARTBEAT_MS = 250
/** Detection (3 silent heartbeats) plus sweeps, plus slack for a loaded machine. */
const LATE_MS = 7 * HEARTBEAT_MS + 1500

function withDelayedWill (clientId: string, willDelayInterval: number, sessionExpiryInterval: number): IClientOptions {
  return {
    protocolVersion: 5,
    clientId,
    clean: false,
    keepalive: 60,
    properties: { sessionExpiryInterval },
    will: { topic: `will/${clientId}`, payload: Buffer.from(`${clientId} gone`), qos: 1, retain: false, properties: { willDelayInterval } }
  } as IClientOptions
}

function arrivals (got: readonly Received[], at: Map<string, number>): void {
  for (const message of got) if (!at.has(message.topic)) at.set(message.topic, Date.now())
}

test('cluster: a dead pod\'s delayed wills wait for their Will Delay Interval (or session end), cancelled by a reconnect elsewhere', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], {
    redisUrl: redis.url,
    env: { STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }
  })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)
  const watcher = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'watch-delay' })
  await watcher.subscribeAsync('will/#', { qos: 1 })
  const got = collect(watcher)

  await connectClient(t, a.url, withDelayedWill('delay-3', 3, 120)) // delay first
  await connectClient(t, a.url, withDelayedWill('session-2', 60, 2)) // session ends first
  await connectClient(t, a.url, withDelayedWill('back-3', 3, 120)) // reconnects on C in time
  await sleep(100)

  const killedAt = Date.now()
  await a.kill('SIGKILL')
  // After the survivors have noticed the death (3 heartbeats), before the 3 s delay.
  await sleep(2000)
  await connectClient(t, c.url, { protocolVersion: 5, clientId: 'back-3', clean: false, properties: { sessionExpiryInterval: 120 } })

  const at = new Map<string, number>()
  await waitFor(() => { arrivals(got, at); return at.has('will/delay-3') && at.has('will/session-2') }, 3000 + LATE_MS + 1000, 'the delayed wills')
  const delay3 = (at.get('will/delay-3') ?? 0) - killedAt
  const session2 = (at.get('will/session-2') ?? 0) - killedAt
  t.diagnostic(`published after the kill: will delay 3 s at ${delay3} ms, session expiry 2 s at ${session2} ms`)
  assert.ok(delay3 >= 3000, `will delay 3 s: published ${delay3} ms after the kill, not before its delay`)
  assert.ok(delay3 <= 3000 + LATE_MS, `will delay 3 s: published ${delay3} ms after the kill, in bounded time`)
  assert.ok(session2 >= 2000, `session expiry 2 s: published ${session2} ms after the kill, at session end`)
  assert.ok(session2 <= 2000 + LATE_MS, `session expiry 2 s: published ${session2} ms after the kill, not after the 60 s delay`)

  await sleep(1500 + 4 * HEARTBEAT_MS) // past back-3's deadline and more sweeps: prove absence and no second copy
  const topics = got.map((m) => m.topic).sort()
  assert.deepEqual(topics, ['will/delay-3', 'will/session-2'], 'each will once; none for the client back on C')
})
