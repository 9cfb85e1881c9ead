import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, endClient, persistentSession, resumeSession, sleep, waitFor, type MqttClient } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { commandCalls, startRedis, testRedisIsCluster, type TestRedis } from '../helpers/redis.js'

// The bus sends to Redis only what another pod needs (src/cluster/emitter-interest.ts): a pod
// delivers its own messages locally, and publishes a message only when another pod listens on
// its channel. Three in-process nodes on one real Redis (or Redis Cluster).

/** PUBLISH + SPUBLISH calls Redis has served (every master's INFO commandstats). */
const publishCalls = async (redis: TestRedis): Promise<number> => await commandCalls(redis, /^cmdstat_s?publish:calls=(\d+)/)

const payloadSeq = (m: { payload: Buffer }): number => Number(m.payload.toString())

test('bus interest: local-only traffic stays off Redis; a new remote subscriber loses nothing after its SUBACK', async (t) => {
  const redis = await startRedis(t)
  const nodes: TestNode[] = []
  for (const id of ['in-a', 'in-b', 'in-c']) {
    // many channels: each fresh topic below is likely on a channel no pod listens on yet
    nodes.push(await startTestNode(t, { nodeId: id, 'redis.url': redis.url, 'log.level': 'warn', 'cluster.messageChannels': 4096, 'cluster.channelLingerMs': 0 }))
  }
  const [a, b] = nodes as [TestNode, TestNode, TestNode]
  let n = 0
  const client = async (node: TestNode): Promise<MqttClient> => await connectClient(t, node.url, { protocolVersion: 5, clientId: `in-${n++}` })
  // the pods' interest settles (hello answered, $SYS listeners announced)
  await sleep(1000)

  await t.test('publisher and subscriber on one pod: delivered, and not one PUBLISH per message', async () => {
    const sub = await client(a)
    await sub.subscribeAsync('local/only/1', { qos: 1 })
    const got = collect(sub)
    const pub = await client(a)
    const before = await publishCalls(redis)
    const count = 300
    for (let i = 0; i < count; i++) await pub.publishAsync('local/only/1', String(i), { qos: 1 })
    await waitFor(() => got.length >= count, 5000, 'local deliveries')
    const sent = await publishCalls(redis) - before
    assert.deepEqual(got.map(payloadSeq), Array.from({ length: count }, (_, i) => i), 'all, in order [MQTT-4.6.0-5]')
    // the pods' own traffic (interest and $SYS heartbeats of 3 pods) may pass; the messages do not
    assert.ok(sent < count / 10, `${sent} PUBLISH calls for ${count} local messages`)

    // a subscriber on another pod: now the messages go to Redis, once each (not back to A)
    const remote = await client(b)
    await remote.subscribeAsync('local/only/1', { qos: 1 })
    const gotRemote = collect(remote)
    const before2 = await publishCalls(redis)
    for (let i = 0; i < 50; i++) await pub.publishAsync('local/only/1', `r${i}`, { qos: 1 })
    await waitFor(() => gotRemote.length >= 50 && got.length >= count + 50, 5000, 'deliveries on both pods')
    const sent2 = await publishCalls(redis) - before2
    assert.ok(sent2 >= 50, `${sent2} PUBLISH calls for 50 messages (one at a time) with a remote subscriber`)
    await sleep(200)
    assert.equal(got.length, count + 50, 'the local subscriber gets each message once (the copy back from Redis is dropped)')

    // the remote subscriber leaves: A stops sending once it hears so
    await remote.unsubscribeAsync('local/only/1')
    await sleep(300)
    const before3 = await publishCalls(redis)
    for (let i = 0; i < count; i++) await pub.publishAsync('local/only/1', `x${i}`, { qos: 1 })
    const sent3 = await publishCalls(redis) - before3
    assert.ok(sent3 < count / 10, `${sent3} PUBLISH calls for ${count} messages after the remote subscriber left`)
  })

  await t.test('a subscriber appears on pod B while pod A publishes: every message after the SUBACK arrives, in order', async () => {
    const pub = await client(a)
    for (let round = 0; round < 8; round++) {
      const topic = `fresh/${round}/${Date.now()}`
      let seq = 0
      let publishing = true
      const sending = (async () => {
        // bounded: stops when the round's checks are done, or after 20 s
        const deadline = Date.now() + 20_000
        while (publishing && Date.now() < deadline) {
          const batch: Array<Promise<unknown>> = []
          for (let k = 0; k < 20; k++) batch.push(pub.publishAsync(topic, String(seq++), { qos: 1 }))
          await Promise.all(batch)
        }
      })()
      await sleep(50)
      const sub = await client(b)
      const got = collect(sub)
      await sub.subscribeAsync(topic, { qos: 1 })
      // every publish issued from now on is after the SUBACK
      const firstAfter = seq
      await sleep(150)
      publishing = false
      await sending
      const last = seq - 1
      await waitFor(() => got.some((m) => payloadSeq(m) === last), 5000, `round ${round}: message ${last}`)
      const seen = got.map(payloadSeq)
      const missing: number[] = []
      for (let i = firstAfter; i <= last; i++) if (!seen.includes(i)) missing.push(i)
      assert.deepEqual(missing, [], `round ${round}: messages published after the SUBACK (${firstAfter}..${last}) lost`)
      const after = seen.filter((s) => s >= firstAfter)
      assert.deepEqual(after, [...after].sort((x, y) => x - y), `round ${round}: order kept [MQTT-4.6.0-5]`)
      await sub.endAsync()
    }
  })
})

test('bus interest: a peer that never acks delays one SUBACK by the ack bound, then is not waited for; its bye stops the sends', { skip: testRedisIsCluster() ? 'raw PUBLISH on the control channel (sharded there)' : false }, async (t) => {
  const redis = await startRedis(t)
  // many channels: the test's topics are not on a channel the pod's own $SYS listeners use
  const a = await startTestNode(t, { nodeId: 'ghost-a', 'redis.url': redis.url, 'log.level': 'warn', 'cluster.messageChannels': 4096 })
  await sleep(600) // warm: the pod has heard its (no) peers
  const control = 'starling:v1:bus:interest'
  // anyone with access to Redis may write here: garbage is ignored, the pod keeps serving
  await redis.cli(['PUBLISH', control, 'not json'])
  // a "pod" that listens on every channel (4096 bits set) and will never ack anything
  await redis.cli(['PUBLISH', control, JSON.stringify({ t: 'i', p: 'ghost', s: 1, c: Buffer.alloc(512, 0xff).toString('base64') })])
  await sleep(200)
  const sub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'ghost-sub' })
  const got = collect(sub)
  let started = Date.now()
  await sub.subscribeAsync('ghost/x/y', { qos: 1 })
  const first = Date.now() - started
  assert.ok(first >= 900, `the first SUBACK waited for the ghost's ack (${first} ms)`)
  started = Date.now()
  await sub.subscribeAsync('other/x/y', { qos: 1 })
  const second = Date.now() - started
  assert.ok(second < first, `a suspect peer is not waited for again (${second} ms after ${first} ms)`)

  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'ghost-pub' })
  let before = await publishCalls(redis)
  for (let i = 0; i < 50; i++) await pub.publishAsync('ghost/x/y', String(i), { qos: 1 })
  assert.ok(await publishCalls(redis) - before >= 50, 'a peer listening on the channel: every message goes to Redis')
  await redis.cli(['PUBLISH', control, JSON.stringify({ t: 'b', p: 'ghost' })])
  await sleep(200)
  before = await publishCalls(redis)
  for (let i = 50; i < 150; i++) await pub.publishAsync('ghost/x/y', String(i), { qos: 1 })
  const sent = await publishCalls(redis) - before
  assert.ok(sent < 10, `${sent} PUBLISH calls after the peer left`)
  await waitFor(() => got.length >= 150, 5000, 'local deliveries')
  assert.deepEqual(got.map(payloadSeq), Array.from({ length: 150 }, (_, i) => i), 'each once, in order, on both paths')
})

/** SUBSCRIBE + SSUBSCRIBE calls Redis has served. */
const subscribeCalls = async (redis: TestRedis): Promise<number> => await commandCalls(redis, /^cmdstat_s?subscribe:calls=(\d+)/)

test('bus channels linger: a persistent session back within cluster.channelLingerMs needs no SUBSCRIBE; after it, the peers stop sending', { skip: testRedisIsCluster() ? 'command counts of one server' : false }, async (t) => {
  const redis = await startRedis(t)
  const linger = 1500
  const nodes: TestNode[] = []
  for (const id of ['lg-a', 'lg-b']) {
    nodes.push(await startTestNode(t, { nodeId: id, 'redis.url': redis.url, 'log.level': 'warn', 'cluster.messageChannels': 4096, 'cluster.channelLingerMs': linger }))
  }
  const [a, b] = nodes as [TestNode, TestNode]
  await sleep(1000)
  const session = persistentSession(5, 'lg-session')
  const first = await connectClient(undefined, b.url, session)
  await first.subscribeAsync('linger/x/1', { qos: 1 })
  await endClient(first)
  const before = await subscribeCalls(redis)
  const back = await connectClient(t, b.url, session)
  const got = collect(back)
  assert.equal(await subscribeCalls(redis) - before, 0, 'the restored subscription\'s channel was still subscribed')
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'lg-pub' })
  for (let i = 0; i < 20; i++) await pub.publishAsync('linger/x/1', String(i), { qos: 1 })
  await waitFor(() => got.length >= 20, 5000, 'deliveries across pods')
  assert.deepEqual(got.map(payloadSeq), Array.from({ length: 20 }, (_, i) => i))

  // gone for longer than the linger: B unsubscribes and tells A, which stops sending
  await endClient(back)
  await sleep(linger * 2 + 500)
  const published = await publishCalls(redis)
  for (let i = 0; i < 100; i++) await pub.publishAsync('linger/x/1', String(i), { qos: 1 })
  const sent = await publishCalls(redis) - published
  assert.ok(sent < 10, `${sent} PUBLISH calls once nobody listens`)
  // and back again later: subscribed and announced anew, nothing lost after the CONNACK
  const again = resumeSession(t, b.url, session)
  await sleep(500)
  for (let i = 0; i < 20; i++) await pub.publishAsync('linger/x/1', `n${i}`, { qos: 1 })
  await waitFor(() => again.filter((m) => m.payload.toString().startsWith('n')).length >= 20, 5000, 'deliveries after re-subscribing')
})
