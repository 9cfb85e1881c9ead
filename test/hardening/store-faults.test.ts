import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { Redis } from 'ioredis'
import type { IDisconnectPacket, ISubackPacket } from 'mqtt-packet'
import { collect, connectClient, connectWithAck, refusedCode, sleep, stopClient, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import type { TestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'
import type { TestRedis } from '../helpers/redis.js'
import { redisAndNodes } from '../helpers/redis-and-nodes.js'

// Faults injected into the store under a cluster-mode node (real redis-server, real sockets):
// the affected client gets a refusal or a DISCONNECT, the fault is counted, and the pod keeps
// serving — a fresh client connects, publishes and receives afterwards.

/** Persistence keys as the node writes them (ioredis keyPrefix of the persistence connection). */
const P = 'starling:v1:'

async function redisAndNode (t: TestContext): Promise<{ redis: TestRedis, node: TestNode }> {
  const { redis, nodes: [node] } = await redisAndNodes(t, ['faults-node'])
  assert.ok(node !== undefined)
  return { redis, node }
}

function rawRedis (t: TestContext, redis: TestRedis): Redis {
  const conn = new Redis(redis.port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 1 })
  conn.on('error', () => {})
  t.after(() => conn.disconnect())
  return conn
}

/** The pod still serves: a new client connects, subscribes, publishes and gets its message. */
async function stillServes (t: TestContext, node: TestNode, tag: string): Promise<void> {
  const client = await connectClient(t, node.url, { protocolVersion: 5, clientId: `fresh-${tag}` })
  const got = collect(client)
  await client.subscribeAsync(`fresh/${tag}`, { qos: 1 })
  await client.publishAsync(`fresh/${tag}`, 'still here', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the fresh client\'s own message')
  assert.equal(got[0]?.payload.toString(), 'still here')
  await stopClient(client)
}

async function fault (node: TestNode, kind: string): Promise<number> {
  return value(await scrape(node.httpPort), 'starling_faults_total', { kind })
}

test('corrupt retained values are skipped: the subscriber gets the others, the pod stays up', async (t) => {
  const { redis, node } = await redisAndNode(t)
  const pub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'ret-pub' })
  for (const n of ['a', 'b', 'c', 'd']) await pub.publishAsync(`ret/${n}`, `value ${n}`, { qos: 1, retain: true })
  const conn = rawRedis(t, redis)
  await conn.hset(`${P}retained`, 'ret/b', Buffer.from([0xc1])) // a byte msgpack never uses
  await conn.hset(`${P}retained`, 'ret/c', Buffer.from([0x82, 0xa1])) // a map cut short

  for (const filter of ['ret/#', 'ret/b']) {
    const { client } = await connectWithAck(t, node.url, { protocolVersion: 5, clientId: `ret-sub-${filter.length}` })
    const got = collect(client)
    await client.subscribeAsync(filter, { qos: 1 })
    if (filter === 'ret/#') await waitFor(() => got.length === 2, 5000, 'the two intact retained messages')
    await sleep(200) // nothing more arrives
    assert.deepEqual(got.map((m) => m.topic).sort(), filter === 'ret/#' ? ['ret/a', 'ret/d'] : [])
    assert.equal(client.connected, true, 'the subscriber stays connected')
  }
  assert.ok(await fault(node, 'retained_value_corrupt') >= 3)
  await stillServes(t, node, 'retained-corrupt')
})

test('Redis killed in the middle of a retained lookup over 20,000 topics: the subscriber gets DISCONNECT 0x80, the pod stays up and serves once Redis is back', { timeout: 180_000 }, async (t) => {
  const { redis, node } = await redisAndNode(t)
  const total = 20_000
  const payload = Buffer.alloc(2048, 'r')
  const pub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'many-pub' })
  for (let i = 0; i < total; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => pub.publishAsync(`many/${i + j}`, payload, { qos: 0, retain: true })))
  }
  const conn = rawRedis(t, redis)
  const deadline = Date.now() + 20_000
  while (await conn.hlen(`${P}retained`) < total) {
    assert.ok(Date.now() < deadline, 'all retained messages stored')
    await sleep(50)
  }
  await stopClient(pub)

  // A raw subscriber whose socket stops being read at the first retained message: the broker's
  // write buffer fills and the lookup waits with pages left to read; Redis is killed meanwhile.
  const { client: sub } = await rawMqttConnect(t, node.mqttPort, { protocolVersion: 5, clientId: 'many-sub' })
  let received = 0
  sub.onPacket = (packet) => {
    if (packet.cmd !== 'publish') return
    if (received++ === 0) {
      sub.socket.pause()
      void redis.stop('SIGKILL').then(() => sub.socket.resume())
    }
  }
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'many/#', qos: 0 }] })
  // The read fails once the persistence connection gives up on Redis (its retries: ~30 s alone,
  // longer when the machine is loaded by other test files)
  const packet = await sub.next<IDisconnectPacket>('disconnect', 120_000)
  assert.equal(packet.reasonCode, 0x80, 'DISCONNECT 0x80 Unspecified error')
  assert.ok(received > 0 && received < total, `the lookup was cut short (${received} of ${total})`)
  await sub.waitClosed()
  assert.ok(await fault(node, 'retained_read_failed') >= 1)

  await redis.start() // empty: a restarted Redis without persistence
  // new CONNECTs are refused (0x88) until the pod sees Redis again
  const ready = Date.now() + 20_000
  while (await refusedCode(node.url, { protocolVersion: 5, clientId: 'probe' }).then(() => false, () => true) === false) {
    assert.ok(Date.now() < ready, 'the pod takes connections again once Redis is back')
    await sleep(200)
  }
  await stillServes(t, node, 'after-kill')
})

test('Redis paused (SIGSTOP) in the middle of a retained lookup: the lookup finishes once it resumes, nothing is lost', { timeout: 60_000 }, async (t) => {
  const { redis, node } = await redisAndNode(t)
  const total = 5000
  const pub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'pause-pub' })
  for (let i = 0; i < total; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => pub.publishAsync(`pause/${i + j}`, Buffer.alloc(1024, 'p'), { qos: 0, retain: true })))
  }
  const conn = rawRedis(t, redis)
  while (await conn.hlen(`${P}retained`) < total) await sleep(50)
  const sub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'pause-sub' })
  const got = new Set<string>()
  let paused = false
  sub.on('message', (topic) => {
    got.add(topic)
    if (!paused) {
      paused = true
      redis.signal('SIGSTOP')
      setTimeout(() => redis.signal('SIGCONT'), 1500)
    }
  })
  t.after(() => redis.signal('SIGCONT'))
  await sub.subscribeAsync('pause/#', { qos: 0 })
  await waitFor(() => got.size === total, 30_000, 'every retained message after the pause')
  assert.equal(sub.connected, true)
  await stillServes(t, node, 'after-pause')
})

test('a session whose stored subscriptions cannot be read is refused with CONNACK 0x88 (v5) / 3 (3.1.1); the pod stays up', async (t) => {
  const { redis, node } = await redisAndNode(t)
  const conn = rawRedis(t, redis)
  for (const version of [5, 4] as const) {
    const clientId = `broken-session-v${version}`
    const first = await connectClient(t, node.url, { protocolVersion: version, clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) })
    await first.subscribeAsync('session/t', { qos: 1 })
    await stopClient(first)
    // the session's subscription hash replaced by a value of another type: every read fails (WRONGTYPE)
    const key = `${P}client:${encodeURIComponent(clientId)}`
    await conn.del(key)
    await conn.set(key, 'not a hash')
    const code = await refusedCode(node.url, { protocolVersion: version, clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) })
    assert.equal(code, version === 5 ? 0x88 : 3, 'Server unavailable')
  }
  assert.ok(await fault(node, 'session_restore_failed') >= 2)
  await stillServes(t, node, 'session')
})

test('a corrupt offline-queue entry is skipped: the session gets the other queued messages in order', async (t) => {
  const { redis, node } = await redisAndNode(t)
  const options = { protocolVersion: 5 as const, clientId: 'queue-owner', clean: false, properties: { sessionExpiryInterval: 60 } }
  const first = await connectClient(t, node.url, options)
  await first.subscribeAsync('queue/t', { qos: 1 })
  await stopClient(first)
  const pub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'queue-pub' })
  for (const n of ['one', 'two', 'three']) await pub.publishAsync('queue/t', n, { qos: 1 })
  const conn = rawRedis(t, redis)
  const list = `${P}oq:{queue-owner}`
  const refs = await conn.lrange(list, 0, -1)
  assert.equal(refs.length, 3)
  await conn.hset(`${list}:p`, refs[1] as string, Buffer.from('garbage, not a serialized packet'))

  const { got } = await connectWithAck(t, node.url, { ...options, clean: false })
  await waitFor(() => got.length === 2, 5000, 'the two intact queued messages')
  await sleep(200)
  assert.deepEqual(got.map((m) => m.payload.toString()), ['one', 'three'])
  assert.equal(await fault(node, 'queue_entry_corrupt'), 1)
  await stillServes(t, node, 'queue')
})

test('corrupt entries in a shared group\'s stream are dropped and counted; the group keeps delivering', async (t) => {
  const { redis, node } = await redisAndNode(t)
  const member = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'group-member' })
  const got = collect(member)
  await member.subscribeAsync('$share/g1/grp/t', { qos: 1 })
  const conn = rawRedis(t, redis)
  const stream = `${P}share:q:g1/grp/t`
  await conn.xadd(stream, '*', 'm', '{not json', 'p', 'x')
  await conn.xadd(stream, '*', 'm', JSON.stringify({ t: 42, q: 7 }), 'p', 'x')
  await conn.xadd(stream, '*', 'm', JSON.stringify({ t: '', q: 1 }), 'p', 'x')
  const pub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'group-pub' })
  await pub.publishAsync('grp/t', 'valid', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the valid group message')
  assert.equal(got[0]?.payload.toString(), 'valid')
  assert.ok(await fault(node, 'group_read_failed') >= 3)
  await stillServes(t, node, 'group')
})

test('a SUBSCRIBE entry that cannot be stored, or whose shared group cannot be joined, gets SUBACK 0x80; the connection stays', async (t) => {
  const { node, redis } = await redisAndNode(t)
  const conn = rawRedis(t, redis)
  for (const version of [5, 4] as const) {
    const clientId = `sub-store-v${version}`
    const { client } = await rawMqttConnect(t, node.mqttPort, { protocolVersion: version, clientId, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) })
    const key = `${P}client:${encodeURIComponent(clientId)}`
    await conn.set(key, 'not a hash') // the session's subscription hash cannot be written (WRONGTYPE)
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'store/t', qos: 1 }] })
    const refused = await client.next<ISubackPacket>('suback', 5000, (p) => p.messageId === 1)
    assert.deepEqual(refused.granted, [0x80], 'SUBACK 0x80 for the entry that could not be stored')
    await conn.del(key)
    client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'store/t', qos: 1 }] })
    const granted = await client.next<ISubackPacket>('suback', 5000, (p) => p.messageId === 2)
    assert.deepEqual(granted.granted, [1])
    client.send({ cmd: 'publish', topic: 'store/t', payload: Buffer.from('after'), qos: 0, retain: false, dup: false })
    await client.next('publish')
    assert.equal(client.closed, false)
  }
  // a shared group whose stream key holds another type cannot be joined
  await conn.set(`${P}share:q:gx/shared/t`, 'not a stream')
  const { client: member } = await rawMqttConnect(t, node.mqttPort, { protocolVersion: 5, clientId: 'share-join' })
  member.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: '$share/gx/shared/t', qos: 1 }, { topic: 'plain/t', qos: 1 }] })
  const suback = await member.next<ISubackPacket>('suback')
  assert.deepEqual(suback.granted, [0x80, 1], 'SUBACK 0x80 for the group that could not be joined; the other entry granted')
  assert.equal(member.closed, false)
  assert.ok(await fault(node, 'subscribe_store_failed') >= 3)
  await stillServes(t, node, 'subscribe-store')
})
