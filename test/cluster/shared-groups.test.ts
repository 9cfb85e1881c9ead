import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, sleep, waitFor, type Received } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'
import { publishMany, sumMetric } from '../helpers/share.js'

// Shared subscriptions across three `starling serve` pods on one redis-server: one Redis Stream
// per group, members read it in turn wherever they are. Build first: `npm run build`.

const SHARE_ENV = { STARLING_SHARE_SWEEP_MS: '250', STARLING_SHARE_CLAIM_IDLE_MS: '2000' }

const payloads = (got: readonly Received[]): string[] => got.map((m) => m.payload.toString())

test('cluster: shared subscription groups over three pods', async (t) => {
  const redis = await startRedis(t)
  const pods = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url, env: SHARE_ENV })
  const [a, b, c] = pods as [Pod, Pod, Pod]

  await t.test('six members on three pods, 10,000 QoS 1 messages: each once, shares within 1.5x', async (t) => {
    const where = [a, a, b, b, c, c]
    const members = await Promise.all(where.map(async (pod, i) => await connectClient(t, pod.url, { clientId: `fair-${i}`, protocolVersion: i % 2 === 0 ? 5 : 4 })))
    const got = members.map(collect)
    for (const member of members) await member.subscribeAsync('$share/fair/fair/#', { qos: 1 })
    const publishers = await Promise.all([a, b, c].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `fair-pub-${i}` })))
    const per = [3334, 3333, 3333]
    await Promise.all(publishers.map(async (pub, i) => await publishMany(pub, `fair/${i}`, `p${i}`, per[i] as number)))
    await waitFor(() => got.flat().length >= 10000, 40000, '10,000 deliveries')
    await sleep(300)
    const all = got.flat().map((m) => m.payload.toString())
    assert.equal(all.length, 10000, 'no duplicate (no member was lost)')
    assert.equal(new Set(all).size, 10000)
    const shares = got.map((g) => g.length)
    t.diagnostic(`shares ${shares.join('/')} (max/min ${(Math.max(...shares) / Math.min(...shares)).toFixed(2)})`)
    assert.ok(Math.max(...shares) / Math.min(...shares) <= 1.5, `shares ${shares.join('/')}`)
    assert.equal(await sumMetric(pods, 'starling_share_messages_delivered_total', 'fair'), 10000)
    await Promise.all(members.map(async (m) => await m.endAsync()))
  })

  await t.test('one member on one pod, five on another: turns go by member, not by pod', async (t) => {
    const members = await Promise.all([a, b, b, b, b, b].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `uneven-${i}` })))
    const got = members.map(collect)
    for (const member of members) await member.subscribeAsync('$share/uneven/uneven/t', { qos: 1 })
    const pub = await connectClient(t, c.url, { clientId: 'uneven-pub' })
    // one message at a time: each finds every member waiting, whichever pod it is on
    await publishMany(pub, 'uneven/t', 'm', 2000, 1)
    await waitFor(() => got.flat().length >= 2000, 20000, '2000 deliveries')
    const shares = got.map((g) => g.length)
    // Split by pod, the lone member would get half; by member, a sixth (measured 17-21%). Under a
    // burst (50 PUBLISHes at once) a member whose pod has less to do reads its next turn sooner
    // (the group balances by who is free): with three members on the other pod the lone one got
    // 25-46% depending on the machine's load, which said little about turns.
    t.diagnostic(`shares ${shares.join('/')} (the lone member first)`)
    assert.ok((shares[0] as number) < 0.35 * 2000, `shares ${shares.join('/')}`)
    assert.equal(new Set(payloads(got.flat())).size, 2000)
    await Promise.all(members.map(async (m) => await m.endAsync()))
  })

  await t.test('two groups and a plain subscriber on one topic each get every message', async (t) => {
    const g1 = await Promise.all([a, b].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `two-g1-${i}` })))
    const g2 = await Promise.all([b, c].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `two-g2-${i}` })))
    const plain = await connectClient(t, c.url, { clientId: 'two-plain' })
    for (const m of g1) await m.subscribeAsync('$share/one/two/+', { qos: 1 })
    for (const m of g2) await m.subscribeAsync('$share/other/two/+', { qos: 1 })
    await plain.subscribeAsync('two/+', { qos: 1 })
    const got1 = g1.map(collect)
    const got2 = g2.map(collect)
    const gotPlain = collect(plain)
    const pub = await connectClient(t, a.url, { clientId: 'two-pub' })
    await publishMany(pub, 'two/x', 'm', 600)
    await waitFor(() => got1.flat().length >= 600 && got2.flat().length >= 600 && gotPlain.length >= 600, 20000, 'three copies')
    await sleep(200)
    for (const got of [got1.flat(), got2.flat(), gotPlain]) assert.equal(new Set(payloads(got)).size, 600)
    assert.equal(got1.flat().length, 600)
    assert.equal(got2.flat().length, 600)
  })

  await t.test('members that subscribe after publishing started get what was queued meanwhile', async (t) => {
    // The group exists (a member joined and left); nobody is online while publishing starts.
    const first = await connectClient(t, b.url, { clientId: 'late-first' })
    await first.subscribeAsync('$share/late/late/t', { qos: 1 })
    await first.endAsync()
    const pub = await connectClient(t, a.url, { clientId: 'late-pub' })
    const publishing = publishMany(pub, 'late/t', 'm', 1000, 20)
    await sleep(100)
    const members = await Promise.all([b, c].map(async (pod, i) => await connectClient(t, pod.url, { clientId: `late-${i}` })))
    const got = members.map(collect)
    for (const m of members) await m.subscribeAsync('$share/late/late/t', { qos: 1 })
    await publishing
    await waitFor(() => got.flat().length >= 1000, 20000, '1000 deliveries').catch(async (err: Error) => {
      const seen = new Set(payloads(got.flat()))
      const missing = Array.from({ length: 1000 }, (_, i) => `m-${i}`).filter((p) => !seen.has(p))
      const key = 'starling:v1:share:q:late/late/t'
      const state = [await redis.cli(['XLEN', key]), await redis.cli(['XPENDING', key, 'starling', '-', '+', '10']), await redis.cli(['XINFO', 'GROUPS', key])]
      throw new Error(`${err.message}: got ${got.flat().length}, missing ${missing.join(',')}, ${JSON.stringify(state)}`)
    })
    await sleep(200)
    assert.equal(got.flat().length, 1000)
    assert.equal(new Set(payloads(got.flat())).size, 1000)
  })
})
