import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, endClient, persistentSession, refusedCode, resumeSession, waitFor } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// A Redis that stops answering without closing its connections (here: the process stopped with
// SIGSTOP) is noticed by the periodic PING: the pod turns not ready and refuses new CONNECTs,
// as when Redis is down, and recovers by itself once Redis answers again.

async function readyz (node: TestNode): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/readyz`, { signal: AbortSignal.timeout(1000) })
    return res.status
  } catch {
    return 0
  }
}

async function readyzBecomes (node: TestNode, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = -1
  while (Date.now() < deadline) {
    last = await readyz(node)
    if (last === status) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`/readyz stayed ${last}, expected ${status}`)
}

const count = (node: TestNode, msg: string): number => node.logs.lines.filter((line) => line.msg === msg).length

test('cluster: a hung Redis makes the pod not ready and refuse CONNECTs until it answers again', async (t) => {
  let pod: TestNode | undefined
  t.after(async () => { await pod?.node.close() }) // registered first: runs before Redis stops
  const redis = await startRedis(t)
  pod = await startTestNode(undefined, {
    nodeId: 'hang-pod', 'redis.url': redis.url, 'redis.pingIntervalMs': 100, 'redis.pingTimeoutMs': 1000, 'log.level': 'info'
  })
  assert.equal(await readyz(pod), 200)

  // QoS 1 messages acknowledged (PUBACK) before the hang, queued for an offline persistent session.
  const sub = await connectClient(t, pod.url, persistentSession(5, 'hang-sub'))
  await sub.subscribeAsync({ 'hang/#': { qos: 1 } })
  await endClient(sub)
  const pub = await connectClient(t, pod.url, { protocolVersion: 5, clientId: 'hang-pub' })
  const payloads = Array.from({ length: 20 }, (_, i) => `m${i}`)
  for (const payload of payloads) await pub.publishAsync('hang/x', payload, { qos: 1 })

  const started = Date.now()
  redis.signal('SIGSTOP')
  t.after(() => redis.signal('SIGCONT')) // if an assertion fails while it is stopped
  await readyzBecomes(pod, 503, 8000)
  assert.ok(Date.now() - started < 5000, `not ready after ${Date.now() - started} ms`)
  assert.equal(await refusedCode(pod.url, { protocolVersion: 5, clientId: 'hang-v5' }), 0x88, 'CONNACK 0x88 Server unavailable')
  assert.equal(await refusedCode(pod.url, { protocolVersion: 4, clientId: 'hang-v4' }), 3, 'CONNACK 3 Server unavailable')
  assert.equal(await readyz(pod), 503, 'still not ready while Redis is stopped')
  assert.equal(count(pod, 'redis not answering'), 1, 'one log line for the hang')
  assert.equal(count(pod, 'redis connection lost'), 0, 'the connections stayed open')

  redis.signal('SIGCONT')
  await readyzBecomes(pod, 200, 5000)
  await waitFor(() => count(pod, 'redis connection restored') === 1, 2000, 'the restored log line')
  assert.equal(count(pod, 'redis not answering'), 1, JSON.stringify(pod.logs.lines.filter((l) => /redis/.test(String(l.msg)))))

  const got = resumeSession(t, pod.url, persistentSession(5, 'hang-sub'))
  await waitFor(() => got.length >= payloads.length, 5000, 'the messages acknowledged before the hang')
  assert.deepEqual(got.map((m) => m.payload.toString()), payloads)
})
