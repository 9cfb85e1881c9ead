import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, waitFor, type Received } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'
import { publishMany, sumMetric } from '../helpers/share.js'

// A member or a whole pod lost in the middle of a stream of group messages: nothing is lost,
// and the only duplicates are the counted redeliveries of what the lost one had not acknowledged.
// Build first: `npm run build`.

const SHARE_ENV = { STARLING_SHARE_SWEEP_MS: '250', STARLING_SHARE_CLAIM_IDLE_MS: '1500' }
const TOTAL = 3000

function check (got: readonly Received[], redelivered: number): void {
  const counts = new Map<string, number>()
  for (const m of got) counts.set(m.payload.toString(), (counts.get(m.payload.toString()) ?? 0) + 1)
  const missing = Array.from({ length: TOTAL }, (_, i) => `m-${i}`).filter((p) => !counts.has(p))
  assert.deepEqual(missing, [], 'no message lost')
  const duplicates = got.length - counts.size
  assert.ok(duplicates <= redelivered, `${duplicates} duplicates, ${redelivered} counted redeliveries`)
  // At most what the lost member / pod held unacknowledged: a window or two of 32.
  assert.ok(redelivered <= 200, `${redelivered} redeliveries`)
}

test('cluster: a shared subscription group survives losing a member and a pod', async (t) => {
  const redis = await startRedis(t)
  const pods = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url, env: SHARE_ENV })
  const [a, b, c] = pods as [Pod, Pod, Pod]

  await t.test('a member killed mid-stream: its unacknowledged messages go to the others', async (t) => {
    const members = await Promise.all([a, b, c].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `kill-m${i}` })))
    const got = members.map(collect)
    for (const m of members) await m.subscribeAsync('$share/kill/kill/t', { qos: 1 })
    const pub = await connectClient(t, a.url, { clientId: 'kill-pub' })
    const publishing = publishMany(pub, 'kill/t', 'm', TOTAL, 20)
    await waitFor(() => got.flat().length >= TOTAL / 3, 20000, 'a third delivered')
    members[1]?.stream.destroy() // no DISCONNECT: the connection just breaks
    await publishing
    await waitFor(() => new Set(got.flat().map((m) => m.payload.toString())).size >= TOTAL, 20000, 'every message')
    check(got.flat(), await sumMetric(pods, 'starling_share_messages_redelivered_total', 'kill'))
  })

  await t.test('a pod SIGKILLed mid-stream: another pod claims what it held after share.claimIdleMs', async (t) => {
    const members = await Promise.all([a, b, c].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `crash-m${i}` })))
    const got = members.map(collect)
    for (const m of members) await m.subscribeAsync('$share/crash/crash/t', { qos: 1 })
    const pub = await connectClient(t, a.url, { clientId: 'crash-pub' })
    const publishing = publishMany(pub, 'crash/t', 'm', TOTAL, 20)
    await waitFor(() => got.flat().length >= TOTAL / 3, 20000, 'a third delivered')
    await c.kill('SIGKILL')
    await publishing
    await waitFor(() => new Set(got.flat().map((m) => m.payload.toString())).size >= TOTAL, 20000, 'every message')
    check(got.flat(), await sumMetric([a, b], 'starling_share_messages_redelivered_total', 'crash'))
  })
})
