import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import type { Readable } from 'node:stream'
import type { OutgoingPersistence, QueuedPacket } from '../../src/broker/engine.js'
import { queueFullReporter, withQueueLimit } from '../../src/broker/queue-limit.js'

interface Packet extends QueuedPacket { cmd: string, topic: string, payload: Buffer, qos: number, brokerId: string, brokerCounter: number, messageId?: number }
interface Persistence extends OutgoingPersistence {
  storeRetained (packet: Packet): Promise<void>
  createRetainedStream (pattern: string): Readable
}

// aedes' own in-memory persistence (the promise form aedes 2 calls), the one embedded mode wraps.
const MemoryPersistence = createRequire(import.meta.url)('aedes-persistence/asyncPersistence.js') as new () => Persistence

let counter = 0
const packet = (topic = 't'): Packet => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, brokerId: 'pod-1', brokerCounter: ++counter })

async function queued (persistence: Persistence, clientId: string): Promise<string[]> {
  const topics: string[] = []
  for await (const p of persistence.outgoingStream({ id: clientId })) topics.push((p as Packet).topic)
  return topics
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('a session\'s queue holds at most maxQueued messages; the rest are dropped for it and reported, other sessions unaffected', async () => {
  const inner = new MemoryPersistence()
  const drops: string[] = []
  const limited = withQueueLimit(inner, { maxQueued: 3, onDrop: (clientId) => drops.push(clientId) })
  for (let i = 0; i < 5; i++) {
    await limited.outgoingEnqueueCombi(i < 2 ? [{ clientId: 'full' }, { clientId: 'other' }] : [{ clientId: 'full' }], packet(`m${i}`))
    await tick()
  }
  await limited.outgoingEnqueue({ clientId: 'full' }, packet('m5'))
  // One message for both: stored for the session with room, dropped for the full one.
  await limited.outgoingEnqueueCombi([{ clientId: 'full' }, { clientId: 'other' }], packet('m6'))
  assert.deepEqual(await queued(inner, 'full'), ['m0', 'm1', 'm2'])
  assert.deepEqual(drops, ['full', 'full', 'full', 'full'])
  assert.deepEqual(await queued(inner, 'other'), ['m0', 'm1', 'm6'])
})

test('a message cleared from the queue (acknowledged) makes room for the next one', async () => {
  const inner = new MemoryPersistence()
  const drops: string[] = []
  const limited = withQueueLimit(inner, { maxQueued: 2, onDrop: (clientId) => drops.push(clientId) })
  const first = packet('a')
  await limited.outgoingEnqueue({ clientId: 'c' }, first)
  await limited.outgoingEnqueue({ clientId: 'c' }, packet('b'))
  await limited.outgoingEnqueue({ clientId: 'c' }, packet('dropped'))
  assert.deepEqual(drops, ['c'])
  // aedes sends it with a packet id, then the PUBACK clears it.
  await limited.outgoingUpdate({ id: 'c' }, { ...first, messageId: 7 })
  assert.ok(await limited.outgoingClearMessageId({ id: 'c' }, { messageId: 7 }))
  await tick()
  await limited.outgoingEnqueue({ clientId: 'c' }, packet('d'))
  assert.deepEqual(await queued(inner, 'c'), ['b', 'd'])
  assert.deepEqual(drops, ['c'])
})

test('a dropped message sent live is no error for aedes; an unknown one still is', async () => {
  const inner = new MemoryPersistence()
  const limited = withQueueLimit(inner, { maxQueued: 1, onDrop: () => {} })
  await limited.outgoingEnqueue({ clientId: 'c' }, packet('kept'))
  const dropped = packet('dropped')
  await limited.outgoingEnqueue({ clientId: 'c' }, dropped)
  await limited.outgoingUpdate({ id: 'c' }, { ...dropped, messageId: 3 })
  await assert.rejects(limited.outgoingUpdate({ id: 'c' }, { ...packet('never queued'), messageId: 4 }), /no such packet/)
})

test('messages already in the persistence count (a previous run, another pod): the cap is overshot by at most the messages of one recount', async () => {
  const inner = new MemoryPersistence()
  for (let i = 0; i < 3; i++) await inner.outgoingEnqueue({ clientId: 'c' }, packet(`old${i}`))
  const drops: string[] = []
  const limited = withQueueLimit(inner, { maxQueued: 3, onDrop: (clientId) => drops.push(clientId) })
  // The first enqueue is admitted while its recount runs in the background (no extra round trip).
  await limited.outgoingEnqueue({ clientId: 'c' }, packet('new0'))
  await tick()
  await limited.outgoingEnqueue({ clientId: 'c' }, packet('new1'))
  assert.deepEqual(await queued(inner, 'c'), ['old0', 'old1', 'old2', 'new0'])
  assert.deepEqual(drops, ['c'])
})

test('every other persistence method reaches the wrapped persistence, bound to it', async () => {
  const inner = new MemoryPersistence()
  const limited = withQueueLimit(inner, { maxQueued: 1, onDrop: () => {} })
  await limited.storeRetained({ ...packet('r/1'), retain: true } as Packet)
  const topics: string[] = []
  for await (const p of limited.createRetainedStream('r/#')) topics.push((p as Packet).topic)
  assert.deepEqual(topics, ['r/1'])
  assert.equal(limited.storeRetained, limited.storeRetained, 'bound once, not per access')
})

test('queueFullReporter counts every drop and logs at most one line per interval, with the code and the count since the last line', () => {
  const counted: string[] = []
  const lines: Array<Record<string, unknown>> = []
  let now = 0
  const report = queueFullReporter(
    { inc: (labels) => counted.push(labels.reason) },
    { warn: (obj) => lines.push(obj as Record<string, unknown>) },
    100, 10_000, () => now)
  report('a')
  report('a')
  report('b')
  now = 10_000
  report('c')
  assert.equal(counted.length, 4)
  assert.ok(counted.every((reason) => reason === 'queue_full'))
  assert.equal(lines.length, 2)
  assert.deepEqual({ ...lines[0] }, { code: 'STARLING_ERR_QUEUE_FULL', err: 'offline queue of 100 messages is full', clientId: 'a', dropped: 1, maxQueuedMessages: 100 })
  assert.equal(lines[1]?.clientId, 'c')
  assert.equal(lines[1]?.dropped, 3, 'b, the second a, and c')
})

test('a message a session may not read (readable) is not queued for it and takes no place; others still get it', async () => {
  const inner = new MemoryPersistence()
  const drops: string[] = []
  const readable = (clientId: string, p: QueuedPacket): boolean => !(clientId === 'restricted' && String(p.topic).startsWith('secret/'))
  const limited = withQueueLimit(inner, { maxQueued: 2, onDrop: (clientId) => drops.push(clientId), readable })
  for (let i = 0; i < 3; i++) await limited.outgoingEnqueueCombi([{ clientId: 'restricted' }, { clientId: 'open' }], packet(`secret/${i}`))
  await limited.outgoingEnqueue({ clientId: 'restricted' }, packet('a'))
  await limited.outgoingEnqueue({ clientId: 'restricted' }, packet('b'))
  assert.deepEqual(await queued(inner, 'restricted'), ['a', 'b'])
  assert.deepEqual(await queued(inner, 'open'), ['secret/0', 'secret/1'])
  assert.deepEqual(drops, ['open'], 'an unreadable message is no queue-full drop')
})
