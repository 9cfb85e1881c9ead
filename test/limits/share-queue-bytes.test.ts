import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// share.maxBytes: a group's queue keeps at most this many payload bytes waiting (not only
// share.maxLength messages); beyond it the oldest are dropped and counted (reason="max_bytes").
// Cluster mode measures the stream's memory as Redis reports it, so the bound is approximate.

const KIB = 1024

async function queueBytesBounded (t: TestContext, overrides: Record<string, unknown>, exact: boolean): Promise<void> {
  const { url, httpPort } = await startTestNode(t, { 'share.maxBytes': 50 * KIB, 'share.sweepMs': 100, ...overrides })
  const member = await connectClient(t, url, { protocolVersion: 5, clientId: 'qb-member' })
  await member.subscribeAsync('$share/qb/q/#', { qos: 1 })
  member.end(true)
  await waitFor(() => member.disconnected, 2000, 'member gone')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'qb-pub' })
  for (let i = 0; i < 20; i++) await pub.publishAsync('q/x', Buffer.alloc(10 * KIB, i), { qos: 1 })
  await sleep(400) // a sweep trims (cluster mode)
  const back = await connectClient(t, url, { protocolVersion: 5, clientId: 'qb-member-2' })
  const got = collect(back)
  await back.subscribeAsync('$share/qb/q/#', { qos: 1 })
  await waitFor(() => got.length >= 1, 3000, 'the kept messages')
  await sleep(300)
  const dropped = value(await scrape(httpPort), 'starling_share_messages_dropped_total', { reason: 'max_bytes' })
  if (exact) assert.equal(got.length, 5, '50 KiB of 10 KiB payloads')
  else assert.ok(got.length >= 1 && got.length <= 5, `${got.length} kept`)
  assert.equal(dropped, 20 - got.length)
  // The newest are kept, in order.
  assert.deepEqual(got.map((m) => m.payload[0]), Array.from({ length: got.length }, (_, i) => 20 - got.length + i))
}

test('embedded: a group\'s queue keeps at most share.maxBytes of payload, the oldest dropped and counted', async (t) => {
  await queueBytesBounded(t, {}, true)
})

test('cluster mode: a group\'s stream is trimmed to about share.maxBytes, counted', async (t) => {
  const redis = await startRedis(t)
  await queueBytesBounded(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32) }, false)
})
