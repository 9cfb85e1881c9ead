import assert from 'node:assert/strict'
import { test } from 'node:test'
import { serialize } from 'node:v8'
import { Cluster, Redis } from 'ioredis'
import { decodeMessage, encodeBatch, encodeMessage, frameTopic, invalidFrameTopic, splitBatch } from '../../src/cluster/emitter-codec.js'
import { emitterChannel, emitterShardChannel } from '../../src/cluster/keys.js'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { redisAndNodes } from '../helpers/redis-and-nodes.js'
import { clusterSeedsOf } from '../helpers/redis.js'

/** A frame as the codec lays it out, with any topic and any body bytes. */
function frame (topic: string, body: Buffer): Buffer {
  const topicBytes = Buffer.from(topic)
  const head = Buffer.from([1, 0, 0])
  head.writeUInt16BE(topicBytes.length, 1)
  return Buffer.concat([head, topicBytes, body])
}

const deep = Array.from({ length: 150 }, (_, i) => `l${i}`).join('/')

test('frames PUBLISHed raw onto the bus (150-level topic, garbage, corrupt body, mismatched topic, wildcard) are dropped and counted on every pod; the pods keep serving', async (t) => {
  const channels = 4
  const { redis, nodes: [a, b] } = await redisAndNodes(t, ['bus-a', 'bus-b'], { 'cluster.messageChannels': channels })
  assert.ok(a !== undefined && b !== undefined)
  // subscribers on `#` on both pods: every frame reaches the matcher (and, if valid, a delivery)
  const subs = await Promise.all([a, b].map(async (node, i) => {
    const client = await connectClient(t, node.url, { protocolVersion: 5, clientId: `wide-${i}` })
    await client.subscribeAsync('#', { qos: 0 })
    return { client, got: collect(client) }
  }))

  const bad = [
    frame(deep, serialize({ topic: deep, payload: Buffer.from('x'), qos: 0, retain: false })),
    Buffer.from('not a starling frame at all'),
    frame('ok/topic', Buffer.from([0xff, 0x0f, 0x6f, 0x02])), // a V8 header, then nonsense
    frame('ok/topic', serialize({ topic: 'other/topic', payload: Buffer.from('x'), qos: 0 })),
    frame('ok/topic', serialize({ topic: 'ok/topic', payload: { not: 'bytes' }, qos: 0 })),
    frame('ok/+', serialize({ topic: 'ok/+', payload: Buffer.from('x'), qos: 0 })),
    frame('ok/topic', serialize([1, 2, 3])),
    Buffer.from([1, 0xff, 0xff, 0x61]), // a topic length past the end
    Buffer.from([3, 0, 2, 0, 0, 0, 1, 0x61]), // a batch announcing two frames, holding one
    Buffer.from([3, 0, 1, 0, 0, 0xff, 0xff]) // a batch whose frame length is past the end
  ]
  // On a Redis Cluster (STARLING_TEST_REDIS=cluster) the bus channels are sharded channels.
  const seeds = clusterSeedsOf(redis.url)
  const raw = seeds === undefined ? new Redis(redis.port, '127.0.0.1') : new Cluster(seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':').pop()) })))
  t.after(() => raw.disconnect())
  const inject = async (slot: number, bytes: Buffer): Promise<unknown> => seeds === undefined ? await raw.publish(emitterChannel(slot), bytes) : await raw.spublish(emitterShardChannel(slot, channels), bytes)
  for (const bytes of bad) {
    for (let slot = 0; slot < channels; slot++) await inject(slot, bytes)
  }

  for (const node of [a, b]) {
    const deadline = Date.now() + 5000
    while (value(await scrape(node.httpPort), 'starling_faults_total', { kind: 'bus_frame_invalid' }) < bad.length * channels) {
      assert.ok(Date.now() < deadline, `every bad frame counted (${value(await scrape(node.httpPort), 'starling_faults_total', { kind: 'bus_frame_invalid' })} of ${bad.length * channels})`)
      await sleep(50)
    }
  }
  await sleep(200)
  for (const { got } of subs) assert.deepEqual(got, [], 'nothing of the bad frames was delivered')
  const logged = a.logs.lines.filter((l) => l.fault === 'bus_frame_invalid')
  assert.equal(logged.length, 1, 'one log line for the burst (rate-limited)')

  // a well-formed frame still crosses pods, and clients still publish across them
  await inject(0, encodeMessage({ topic: 'x', payload: Buffer.from('raw but valid'), qos: 0, retain: false }))
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'bus-pub' })
  await pub.publishAsync('after/bad-frames', 'still flowing', { qos: 1 })
  await waitFor(() => subs.every(({ got }) => got.some((m) => m.topic === 'after/bad-frames')), 5000, 'a message on both pods')
})

test('codec: a frame is checked before its topic is matched and its body used', () => {
  assert.equal(invalidFrameTopic('a/b'), undefined)
  assert.match(invalidFrameTopic(deep) ?? '', /more than 100 levels/)
  assert.equal(invalidFrameTopic(Array.from({ length: 100 }, () => 'x').join('/')), undefined, '100 levels are fine')
  assert.match(invalidFrameTopic('a/#') ?? '', /wildcard/)
  assert.match(invalidFrameTopic('a\u0000b') ?? '', /U\+0000/)
  assert.match(invalidFrameTopic('') ?? '', /empty/)
  const good = encodeMessage({ topic: 'a/b', payload: Buffer.from('p'), qos: 1 })
  assert.equal(frameTopic(good), 'a/b')
  assert.equal(decodeMessage(good).topic, 'a/b')
  assert.throws(() => decodeMessage(frame('a/b', serialize({ topic: 'a/b', payload: 'p', qos: 3 }))), /QoS/)
  const v1 = frame('a/b', serialize({ topic: 'a/b', payload: Buffer.from('p'), qos: 1 }))
  assert.equal(decodeMessage(v1).topic, 'a/b', 'frames of version 1 (pods not yet upgraded) are still read')
  const batch = splitBatch(encodeBatch([good, v1]))
  assert.deepEqual(batch?.map((f) => frameTopic(f)), ['a/b', 'a/b'], 'a batch splits into its frames, in order')
  assert.equal(splitBatch(encodeBatch([good]).subarray(0, 10)), undefined, 'a cut batch is refused')
})

test('codec: a packet round-trips through the binary body, the fields it does not know through V8', () => {
  const plain = { cmd: 'publish', brokerId: '01JABCDEF', brokerCounter: 42, topic: 'a/b', payload: Buffer.from('p'), qos: 1, retain: false, dup: false, messageId: undefined, publishedAt: 1796667659161.082 }
  const v5 = { ...plain, qos: 2, retain: true, messageId: 7, properties: { contentType: 'x', correlationData: Buffer.from('c'), userProperties: { k: ['1', '2'] } }, messageExpiry: 1234, clientId: 'c' }
  const odd = { topic: 'a/b', payload: 'a string payload', qos: 0, cmd: 'other', brokerCounter: '12' }
  for (const packet of [plain, v5, odd]) {
    const decoded = decodeMessage(encodeMessage(packet))
    assert.deepStrictEqual(decoded, { ...packet })
    assert.deepEqual(Object.keys(decoded).sort(), Object.keys(packet).sort(), 'own fields as sent (an own undefined messageId too)')
  }
  const body = (flags: number, ...rest: number[]): Buffer => {
    const topic = Buffer.from('a/b')
    return Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, topic.length]), topic, Buffer.from([flags >> 8, flags & 0xff, ...rest])])
  }
  assert.throws(() => decodeMessage(body(1 << 12, 0, 0, 0, 9, 0x61)), /cut/, 'a payload length past the end')
  assert.throws(() => decodeMessage(body(1 << 15)), /unknown flags/, 'a version 2 body has no binary clientId')
  const v4 = (flags: number, ...rest: number[]): Buffer => { const f = body(flags, ...rest); f[0] = 4; return f }
  assert.deepStrictEqual(decodeMessage(v4(1 << 15, 0, 2, 0x63, 0x31)), { topic: 'a/b', clientId: 'c1' }, 'a version 4 body carries the clientId in binary')
  assert.throws(() => decodeMessage(v4(1 << 15, 0, 9, 0x63)), /cut/, 'a clientId length past the end')
  const fromClient = { ...plain, clientId: 'sensor-é-1' }
  assert.ok(!encodeMessage(plain).includes(Buffer.from([0xff, 0x0f])), 'the PUBLISH fields need no V8 serialization (no V8 header)')
  assert.ok(!encodeMessage(fromClient).includes(Buffer.from([0xff, 0x0f])), 'nor the publisher\'s clientId aedes stamps on every client PUBLISH')
  assert.deepStrictEqual(decodeMessage(encodeMessage(fromClient)), fromClient)
  assert.equal(splitBatch(encodeMessage(fromClient)), undefined, 'a lone frame is never read as a batch (its version byte is not the batch marker)')
  assert.throws(() => decodeMessage(body((1 << 3) | (3 << 4))), /QoS/)
  assert.throws(() => decodeMessage(body(1, 0x61)), /trailing/)
})
