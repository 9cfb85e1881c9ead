import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqemitter from 'mqemitter'
import type { Engine } from '../../src/broker/engine.js'
import { watchPodHeartbeats } from '../../src/cluster/pod-liveness.js'

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
  assert.equal(liveness.isDead('other'), false)
  for (let i = 0; i < 8; i++) { beat('me'); await wait(HEARTBEAT_MS) }
  assert.equal(liveness.isDead('other'), true)
  assert.equal(liveness.isDead('me'), false, 'never itself')
})

test('after hearing nobody for 3 heartbeats (a stalled pod, a backlog of bus messages) nobody is judged dead', async (t) => {
  const { mq, beat, close } = bus()
  t.after(close)
  const liveness = watchPodHeartbeats({ mq }, { nodeId: 'me', heartbeatMs: HEARTBEAT_MS })
  for (let i = 0; i < 6; i++) { beat('me'); beat('other'); await wait(HEARTBEAT_MS) }
  // this pod hears nothing, its own heartbeat included: the silence is its own
  await wait(5 * HEARTBEAT_MS)
  assert.equal(liveness.isDead('other'), false)
  // once it hears again (its own heartbeat first), a pod still silent is dead
  beat('me')
  assert.equal(liveness.isDead('other'), true)
  beat('other')
  assert.equal(liveness.isDead('other'), false)
})
