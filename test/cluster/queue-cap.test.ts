import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, endClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// limits.maxQueuedMessages across pods: the session lives on pod A, messages are queued by pod B.
// B learns the queue's length from Redis in one LLEN (not by reading the queue, a GET per entry),
// and the first messages are kept, the later ones dropped and counted.

function commandCount (info: readonly string[], command: string): number {
  const line = info.find((l) => l.startsWith(`cmdstat_${command}:`))
  return line === undefined ? 0 : Number(/calls=(\d+)/.exec(line)?.[1] ?? 0)
}

test('cluster: the offline-queue cap holds when another pod queues, at one LLEN per check', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: redis.url, env: { STARLING_LIMITS_MAX_QUEUED_MESSAGES: '5' } })
  assert.ok(a !== undefined && b !== undefined)
  const options = persistentSession(5, 'capped')
  const sub = await connectClient(t, a.url, options)
  await sub.subscribeAsync({ 'cap/#': { qos: 1 } })
  await endClient(sub)

  const pub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'cap-pub' })
  await redis.cli(['CONFIG', 'RESETSTAT']) // after the publisher's own CONNECT, which reads its (empty) queue
  for (let i = 0; i < 20; i++) {
    await pub.publishAsync('cap/x', String(i), { qos: 1 })
    await sleep(20) // let the background recount land, so the cap is exact here
  }
  const stats = await redis.cli(['INFO', 'commandstats'])
  assert.equal(commandCount(stats, 'lrange'), 0, 'the queue is never read to count it')
  assert.ok(commandCount(stats, 'llen') >= 1, 'its length comes from LLEN')

  const got = resumeSession(t, a.url, options)
  await waitFor(() => got.length >= 5, 5000, 'the queued messages')
  await sleep(300)
  assert.deepEqual(got.map((m) => m.payload.toString()), ['0', '1', '2', '3', '4'])
  const metrics = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text()
  assert.match(metrics, /starling_messages_dropped_total\{reason="queue_full"[^}]*\} 15/)
})
