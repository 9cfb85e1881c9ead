import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { serialize } from 'node:v8'
import { Cluster, Redis } from 'ioredis'
import { MARK_DELAY_MS, OutgoingStore, type StoredPacket } from '../../src/cluster/outgoing-store.js'
import { outgoingQueueKeys, persistenceKeyPrefix } from '../../src/cluster/keys.js'
import { clusterSeedsOf, startRedis } from '../helpers/redis.js'

// The Redis layout of a persistent session's queue (src/cluster/outgoing-store.ts): what one pod
// stores another reads back with the packet id it went out with [MQTT-4.4.0-1], an
// acknowledgement leaves nothing behind, and a queue an older version wrote (ids in `:m`,
// V8-serialized messages) is still replayed and cleared.

async function connect (t: TestContext): Promise<{ conn: Redis | Cluster, cluster: boolean }> {
  const redis = await startRedis(t)
  const seeds = clusterSeedsOf(redis.url)
  const conn = seeds !== undefined
    ? new Cluster(seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':').pop()) })), { keyPrefix: persistenceKeyPrefix(), enableAutoPipelining: true })
    : new Redis(redis.port, '127.0.0.1', { keyPrefix: persistenceKeyPrefix(), enableAutoPipelining: true })
  t.after(() => conn.disconnect())
  return { conn, cluster: seeds !== undefined }
}

async function all (stream: AsyncIterable<StoredPacket>): Promise<StoredPacket[]> {
  const out: StoredPacket[] = []
  for await (const packet of stream) out.push(packet)
  return out
}

function publish (counter: number, payload: string): StoredPacket {
  return { cmd: 'publish', brokerId: 'pod-a', brokerCounter: counter, topic: 'room/1', payload: Buffer.from(payload), qos: 1, retain: false, dup: false }
}

async function keysLeft (conn: Redis | Cluster, clientId: string): Promise<number> {
  let n = 0
  for (const key of outgoingQueueKeys(clientId)) n += await conn.exists(key)
  return n
}

test('a message sent by one pod is replayed by another with its packet id, and its PUBACK there leaves no key', async (t) => {
  const { conn, cluster } = await connect(t)
  const podB = new OutgoingStore({ conn, cluster })
  const podC = new OutgoingStore({ conn, cluster })
  const client = { id: 'layout-1' }
  await podB.enqueue([{ clientId: client.id }], publish(1, 'first'))
  await podB.enqueue([{ clientId: client.id }], publish(2, 'second'))
  await podB.update(client, { ...publish(1, 'first'), messageId: 7 })
  await podB.update(client, { ...publish(2, 'second'), messageId: 8, qos: 2 }) // QoS 2: awaited
  podB.flushMarks(client.id) // the connection ended on pod B (redis-persistence.ts: clientDisconnect): the held-back QoS 1 id is written
  // the session resumes on another pod: same ids, queue order [MQTT-4.4.0-1] [MQTT-4.6.0-6]
  const replay = await all(podC.stream(client))
  assert.deepEqual(replay.map((p) => [p.messageId, (p.payload as Buffer).toString()]), [[7, 'first'], [8, 'second']])
  const cleared = await podC.clear(client, { messageId: 7 })
  assert.equal((cleared?.payload as Buffer).toString(), 'first')
  assert.equal(await podC.clear(client, { messageId: 7 }), undefined, 'a repeated PUBACK clears nothing')
  assert.equal(await podC.length(client), 1)
  await podC.clear(client, { messageId: 8 })
  assert.equal(await keysLeft(conn, client.id), 0)
})

test('a QoS 1 id is written after the hold unless its PUBACK came first, which then leaves no key and no id behind', async (t) => {
  const { conn, cluster } = await connect(t)
  const podB = new OutgoingStore({ conn, cluster })
  const client = { id: 'layout-hold' }
  for (const counter of [1, 2]) await podB.enqueue([{ clientId: client.id }], publish(counter, `m${counter}`))
  await podB.update(client, { ...publish(1, 'm1'), messageId: 3 })
  await podB.update(client, { ...publish(2, 'm2'), messageId: 4 })
  // acknowledged within the hold: the entry goes, its id was never written
  assert.equal((await podB.clear(client, { messageId: 3 }))?.brokerCounter, 1)
  const [, packets] = outgoingQueueKeys(client.id)
  assert.equal(await conn.hexists(packets, '#3'), 0, 'no id written for the acknowledged message')
  // not acknowledged: after the hold a pod that never sent it replays it with its id [MQTT-4.4.0-1]
  await new Promise((resolve) => setTimeout(resolve, 3 * MARK_DELAY_MS + 50))
  const podC = new OutgoingStore({ conn, cluster })
  assert.deepEqual((await all(podC.stream(client))).map((p) => [p.messageId, p.brokerCounter]), [[4, 2]])
  assert.equal((await podC.clear(client, { messageId: 4 }))?.brokerCounter, 2)
  assert.equal(await keysLeft(conn, client.id), 0)
})

test('a PUBACK on a pod that does not know the packet id clears the message stored under it', async (t) => {
  const { conn, cluster } = await connect(t)
  const podB = new OutgoingStore({ conn, cluster })
  const client = { id: 'layout-2' }
  await podB.enqueue([{ clientId: client.id }], publish(5, 'five'))
  await podB.update(client, { ...publish(5, 'five'), messageId: 9, qos: 2 })
  const cleared = await new OutgoingStore({ conn, cluster }).clear(client, { messageId: 9 })
  assert.equal(cleared?.messageId, 9)
  assert.equal((cleared?.payload as Buffer).toString(), 'five')
  assert.equal(await keysLeft(conn, client.id), 0)
})

test('a queue in the older layout (ids in :m, V8 copies) is replayed with its ids and cleared', async (t) => {
  const { conn, cluster } = await connect(t)
  const client = { id: 'layout-3' }
  const [list, packets, ids] = outgoingQueueKeys(client.id)
  const old = (counter: number, payload: string): Buffer => serialize({ ...publish(counter, payload), messageId: undefined })
  await conn.rpush(list, 'pod-a:1', 'pod-a:2')
  await conn.hset(packets, 'pod-a:1', old(1, 'sent before'), 'pod-a:2', old(2, 'never sent'))
  await conn.hset(ids, '#3', 'pod-a:1', '@pod-a:1', '3', '#9', 'pod-a:gone', '@pod-a:gone', '9') // and the ids of a message no longer stored
  const store = new OutgoingStore({ conn, cluster })
  const replay = await all(store.stream(client))
  assert.deepEqual(replay.map((p) => [p.messageId, (p.payload as Buffer).toString()]), [[3, 'sent before'], [undefined, 'never sent']])
  assert.equal(await conn.exists(ids), 0, 'the ids moved beside the messages')
  assert.equal(await conn.hexists(packets, '@pod-a:gone'), 0, 'without those of a message no longer stored')
  assert.equal((await store.clear(client, { messageId: 3 }))?.brokerCounter, 1)
  await store.update(client, { ...replay[1], messageId: 4 } as StoredPacket)
  await store.clear(client, { messageId: 4 })
  assert.equal(await keysLeft(conn, client.id), 0)
})
