import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqemitter from 'mqemitter'
import type { Engine } from '../../src/broker/engine.js'
import { watchPodHeartbeats } from '../../src/cluster/pod-liveness.js'
import { msSinceRenewal, writeMember } from '../../src/cluster/members.js'
import { createRedisClient, redisSettings } from '../../src/cluster/redis.js'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { startRedis } from '../helpers/redis.js'

// A real in-process mqemitter carries the heartbeats, as the cluster emitter's local side does.
const HEARTBEAT_MS = 20
const wait = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function bus (): { mq: Engine['mq'], beat: (pod: string) => void, close: () => void } {
  const mq = mqemitter({ concurrency: 0 }) as unknown as Engine['mq'] & { emit: (p: unknown) => void, close: (cb: () => void) => void }
  return { mq, beat: (pod) => mq.emit({ topic: `$SYS/${pod}/heartbeat`, payload: Buffer.from(pod) }), close: () => mq.close(() => {}) }
}

test('a pod silent for 3 heartbeats is dead, while this pod hears heartbeats (its own included)', async (t) => {
  const { mq, beat, close } = bus()
  t.after(close)
  const liveness = watchPodHeartbeats({ mq }, { nodeId: 'me', heartbeatMs: HEARTBEAT_MS })
  // 4 heartbeats of listening first; 'other' beats for a while, then stops; this pod goes on
  for (let i = 0; i < 6; i++) { beat('me'); beat('other'); await wait(HEARTBEAT_MS) }
  assert.equal(await liveness.isDead('other'), false)
  for (let i = 0; i < 8; i++) { beat('me'); await wait(HEARTBEAT_MS) }
  assert.equal(await liveness.isDead('other'), true)
  assert.equal(await liveness.isDead('me'), false, 'never itself')
})

test('after hearing nobody for 3 heartbeats (a stalled pod, a backlog of bus messages) nobody is judged dead', async (t) => {
  const { mq, beat, close } = bus()
  t.after(close)
  const liveness = watchPodHeartbeats({ mq }, { nodeId: 'me', heartbeatMs: HEARTBEAT_MS })
  for (let i = 0; i < 6; i++) { beat('me'); beat('other'); await wait(HEARTBEAT_MS) }
  // this pod hears nothing, its own heartbeat included: the silence is its own
  await wait(5 * HEARTBEAT_MS)
  assert.equal(await liveness.isDead('other'), false)
  // once it hears again (its own heartbeat first), a pod still silent is dead
  beat('me')
  assert.equal(await liveness.isDead('other'), true)
  beat('other')
  assert.equal(await liveness.isDead('other'), false)
})

test('a pod silent on the bus but renewing its membership entry in Redis is alive (this pod is behind on the bus)', async (t) => {
  const BEAT_MS = 100 // a renewal must be seen within 3 beats, Redis round trip and timers included
  const redis = await startRedis(t)
  const settings = redisSettings(loadConfig({ overrides: { redis: { url: redis.url } } }).redis)!
  const conn = createRedisClient(settings, { role: 'test', nodeId: 'me', logger: createLogger('silent', 'me') })
  t.after(() => conn.disconnect())
  const { mq, beat, close } = bus()
  t.after(close)
  const ttlMs = 10 * BEAT_MS
  const renew = async (pod: string): Promise<void> => await writeMember(conn, { id: pod, version: 'test', addresses: {}, connections: 0, startedAt: 0, lastHeartbeatAt: Date.now() }, ttlMs)
  const liveness = watchPodHeartbeats({ mq }, { nodeId: 'me', heartbeatMs: BEAT_MS, sinceRenewalMs: async (pod) => await msSinceRenewal(conn, pod, ttlMs) })
  for (let i = 0; i < 6; i++) { beat('me'); beat('other'); await renew('other'); await wait(BEAT_MS) }
  // 'other' beats on, but its heartbeats wait unread in this pod's bus backlog: only its entry is renewed
  for (let i = 0; i < 8; i++) { beat('me'); await renew('other'); await wait(BEAT_MS) }
  assert.equal(await liveness.isDead('other'), false, 'renewed within 3 heartbeats: alive')
  // it really stops: no renewal either
  for (let i = 0; i < 5; i++) { beat('me'); await wait(BEAT_MS) }
  assert.equal(await liveness.isDead('other'), true, 'silent on the bus and not renewed: dead')
  assert.equal(await liveness.isDead('never-registered'), true, 'no entry and never heard: dead')
  // Redis unreadable: nobody is judged
  const failing = watchPodHeartbeats({ mq }, { nodeId: 'me', heartbeatMs: BEAT_MS, sinceRenewalMs: async () => { throw new Error('redis away') } })
  for (let i = 0; i < 6; i++) { beat('me'); await wait(BEAT_MS) }
  assert.equal(await failing.isDead('other'), false)
})
