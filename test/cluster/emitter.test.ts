import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { collect, connectClient, sleep, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

// Starling's cluster emitter (src/cluster/emitter.ts): messages cross pods over a fixed set of
// Redis channels (no PSUBSCRIBE), each pod filtering locally. Three in-process nodes, one real
// redis-server; every publish is on pod A, every subscriber on B or C unless said otherwise.

const topics = (got: readonly Received[]): string[] => got.map((m) => `${m.topic} ${m.payload.toString()}`).sort()

async function subscribe (client: MqttClient, filters: readonly string[], qos: 0 | 1 = 1): Promise<void> {
  const granted = await client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos }])))
  assert.ok(granted.every((g) => g.qos === qos), `granted: ${JSON.stringify(granted)}`)
}

/** Publishes `pairs` in order from `pub`, then a marker every subscriber listed waits for. */
async function publishAll (pub: MqttClient, pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
  for (const [topic, payload] of pairs) await pub.publishAsync(topic, payload, { qos: 1 })
}

test('cluster emitter: filters match across pods over a fixed set of Redis channels', async (t) => {
  const redis: TestRedis = await startRedis(t)
  const nodes: TestNode[] = []
  for (const id of ['em-a', 'em-b', 'em-c']) {
    // `$SYS` needs a grant (README "Access control"): one test watches `$SYS/+/new/clients`;
    // one client holds 2,000 filters below (limits.maxSubscriptionsPerClient is 1,000 by default).
    nodes.push(await startTestNode(t, { nodeId: id, 'redis.url': redis.url, 'log.level': 'warn', 'cluster.messageChannels': 16, 'limits.maxSubscriptionsPerClient': 5000, acl: [{ action: 'subscribe', topic: '$SYS/#', allow: true }] }))
  }
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
  let n = 0
  const client = async (t: TestContext, node: TestNode): Promise<MqttClient> =>
    await connectClient(t, node.url, { protocolVersion: 5, clientId: `em-${n++}` })

  await t.test('+ and # filters (also wildcard-first ones) receive across pods; others do not', async (t) => {
    const subB = await client(t, b)
    const subC = await client(t, c)
    await subscribe(subB, ['w/+/temp', '+/room/+'])
    await subscribe(subC, ['#'])
    const gotB = collect(subB)
    const gotC = collect(subC)
    const pub = await client(t, a)
    await publishAll(pub, [['w/1/temp', 'a'], ['w/1/hum', 'b'], ['x/room/2', 'c'], ['w/room/temp', 'd'], ['other', 'e']])
    await waitFor(() => gotC.length >= 5 && gotB.length >= 3, 5000, 'deliveries')
    await sleep(200)
    assert.deepEqual(topics(gotB), ['w/1/temp a', 'w/room/temp d', 'x/room/2 c'], 'one copy for two matching filters')
    assert.deepEqual(topics(gotC), ['other e', 'w/1/hum b', 'w/1/temp a', 'w/room/temp d', 'x/room/2 c'])
  })

  await t.test('$ topics reach $ filters but not # or +/... [MQTT-4.7.2-1]', async (t) => {
    const wild = await client(t, b)
    const dollar = await client(t, c)
    await subscribe(wild, ['#', '+/app/+', '+/+/+'])
    await subscribe(dollar, ['$app/#', '$SYS/+/new/clients'])
    const gotWild = collect(wild)
    const gotDollar = collect(dollar)
    const pub = await client(t, a)
    await publishAll(pub, [['$app/x/1', 'dollar'], ['plain/app/1', 'plain']])
    await waitFor(() => gotWild.length >= 1 && gotDollar.some((m) => m.topic === '$app/x/1'), 5000, 'deliveries')
    // aedes announces a new client on $SYS/<pod>/new/clients; the one of pod A reaches C
    await waitFor(() => gotDollar.some((m) => m.topic === '$SYS/em-a/new/clients' && m.payload.toString() === pub.options.clientId), 5000, '$SYS from pod A')
    await sleep(200)
    assert.deepEqual(topics(gotWild), ['plain/app/1 plain'], 'no $ topic through a wildcard-first filter')
  })

  await t.test('topics with Redis glob characters * ? [ ] reach only the filters that match them', async (t) => {
    const sub = await client(t, b)
    await subscribe(sub, ['g/[ab]/+', 'g/a*', 'g/?/x', 'h[1]/#', 'i?'])
    const got = collect(sub)
    const pub = await client(t, a)
    await publishAll(pub, [
      ['g/a/1', 'no'], ['g/b/1', 'no'], ['g/ab', 'no'], ['g/a', 'no'], ['g/x/x', 'no'], ['h1/1', 'no'], ['ix', 'no'], ['i', 'no'],
      ['g/[ab]/1', 'yes'], ['g/a*', 'yes'], ['g/?/x', 'yes'], ['h[1]/z', 'yes'], ['h[1]', 'yes'], ['i?', 'yes']
    ])
    await waitFor(() => got.length >= 6, 5000, 'deliveries')
    await sleep(200)
    assert.deepEqual(topics(got), ['g/?/x yes', 'g/[ab]/1 yes', 'g/a* yes', 'h[1] yes', 'h[1]/z yes', 'i? yes'])
  })

  await t.test('unsubscribe stops delivery, the pod\'s other filters keep theirs', async (t) => {
    const sub = await client(t, c)
    await subscribe(sub, ['u/+/x', 'u/keep', '#'])
    const got = collect(sub)
    const pub = await client(t, a)
    await publishAll(pub, [['u/1/x', 'before']])
    await waitFor(() => got.length >= 1, 5000, 'first delivery')
    await sub.unsubscribeAsync(['u/+/x', '#'])
    await publishAll(pub, [['u/2/x', 'after'], ['zz', 'after'], ['u/keep', 'marker']])
    await waitFor(() => got.some((m) => m.topic === 'u/keep'), 5000, 'marker')
    await sleep(200)
    assert.deepEqual(topics(got), ['u/1/x before', 'u/keep marker'])
  })

  await t.test('every enumerable field and the order of one publisher survive the trip', async (t) => {
    const sub = await client(t, b)
    await subscribe(sub, ['p1/#', 'p2/#'])
    const got = collect(sub)
    const pub = await client(t, a)
    await pub.publishAsync('p1/props', Buffer.from([0, 1, 2, 255]), {
      qos: 1,
      properties: {
        contentType: 'application/x-test',
        responseTopic: 'p1/reply',
        correlationData: Buffer.from([9, 8, 7]),
        payloadFormatIndicator: false,
        userProperties: { k: 'v', list: ['1', '2'] }
      }
    })
    await waitFor(() => got.length >= 1, 5000, 'props')
    const first = got[0]!
    assert.deepEqual([...first.payload], [0, 1, 2, 255])
    assert.equal(first.packet.properties?.contentType, 'application/x-test')
    assert.equal(first.packet.properties?.responseTopic, 'p1/reply')
    assert.deepEqual([...(first.packet.properties?.correlationData ?? [])], [9, 8, 7])
    assert.deepEqual({ ...first.packet.properties?.userProperties }, { k: 'v', list: ['1', '2'] })
    // two channels (different first levels), one publisher: delivered in publish order
    const sent: string[] = []
    for (let i = 0; i < 100; i++) {
      const topic = i % 2 === 0 ? 'p1/o' : 'p2/o'
      sent.push(`${topic} ${i}`)
      pub.publish(topic, String(i), { qos: 0 })
    }
    await waitFor(() => got.length >= 101, 5000, 'ordered burst')
    assert.deepEqual(got.slice(1).map((m) => `${m.topic} ${m.payload.toString()}`), sent)
  })

  await t.test('2,000 distinct wildcard filters on one pod: right deliveries, no Redis pattern', async (t) => {
    const sub = await client(t, b)
    const filters = Array.from({ length: 2000 }, (_, i) => `many/${i}/+`)
    for (let i = 0; i < filters.length; i += 200) await subscribe(sub, filters.slice(i, i + 200), 0)
    const got = collect(sub)
    const pub = await client(t, a)
    const hits = Array.from({ length: 21 }, (_, k) => k * 97)
    await publishAll(pub, [
      ['many/none/x', 'no'], ['many/5/x/y', 'no'], ['many/2000/x', 'no'],
      ...hits.map((i) => [`many/${i}/x`, 'yes'] as const)
    ])
    await waitFor(() => got.length >= hits.length, 5000, 'deliveries')
    await sleep(200)
    assert.deepEqual(topics(got), hits.map((i) => `many/${i}/x yes`).sort())
    assert.deepEqual(await redis.cli(['PUBSUB', 'NUMPAT']), ['0'], 'plain SUBSCRIBE only')
    // the bus channels, without the pods' interest control channel (emitter-interest.ts)
    const channels = (await redis.cli(['PUBSUB', 'CHANNELS', 'starling:v1:bus:*'])).filter((c) => c !== 'starling:v1:bus:interest')
    assert.ok(channels.length >= 1 && channels.length <= 16, `channels: ${channels.length}`)
  })
})
