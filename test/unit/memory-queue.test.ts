import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { MemoryQueueBackend } from '../../src/groups/memory-queue.js'
import { createShareMetrics, type ShareMetrics } from '../../src/groups/metrics.js'
import { parseShare, type ShareFilter } from '../../src/groups/parse.js'
import type { QueuedMessage, ShareMessage } from '../../src/groups/queue.js'

const share = (text: string): ShareFilter => parseShare(text) as ShareFilter
const message = (topic: string, enqueuedAt = Date.now()): ShareMessage => ({ topic, payload: Buffer.from(topic), qos: 1, retain: false, enqueuedAt })
const topics = (messages: readonly QueuedMessage[]): string[] => messages.map((m) => m.message.topic)
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function backend (limits = { maxLength: 100, maxAgeMs: 60_000 }): { queues: MemoryQueueBackend, metrics: ShareMetrics } {
  const metrics = createShareMetrics(new Registry())
  return { queues: new MemoryQueueBackend(limits, metrics), metrics }
}

async function dropped (metrics: ShareMetrics, reason: string): Promise<number> {
  return (await metrics.dropped.get()).values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0)
}

test('a joined group keeps its messages in order and a read takes at most `count`', async () => {
  const { queues } = backend()
  const g = share('$share/g/t/#')
  const queue = await queues.join(g)
  assert.deepEqual(queues.groups(), [g])
  await queues.enqueue([g], message('t/1'))
  await queues.enqueue([g], message('t/2'))
  await queues.enqueue([g], message('t/3'))
  assert.deepEqual(topics(await queue.read(2).result), ['t/1', 't/2'])
  assert.deepEqual(topics(await queue.read(5).result), ['t/3'])
})

test('a message for a group nobody joined is not kept', async () => {
  const { queues } = backend()
  await queues.enqueue([share('$share/none/t')], message('t'))
  assert.deepEqual(queues.groups(), [])
})

test('waiting readers are served in the order they started waiting (members take turns)', async () => {
  const { queues } = backend()
  const g = share('$share/g/t')
  const queue = await queues.join(g)
  const first = queue.read(1)
  const second = queue.read(1)
  await queues.enqueue([g], message('m1'))
  await queues.enqueue([g], message('m2'))
  assert.deepEqual(topics(await first.result), ['m1'])
  assert.deepEqual(topics(await second.result), ['m2'])
})

test('a cancelled read ends with nothing and the next message goes to the reader still waiting', async () => {
  const { queues } = backend()
  const g = share('$share/g/t')
  const queue = await queues.join(g)
  const cancelled = queue.read(1)
  const waiting = queue.read(1)
  cancelled.cancel()
  assert.deepEqual(await cancelled.result, [])
  await queues.enqueue([g], message('m1'))
  assert.deepEqual(topics(await waiting.result), ['m1'])
})

test('released messages go back to the front of the queue, for the next reader', async () => {
  const { queues } = backend()
  const g = share('$share/g/t')
  const queue = await queues.join(g)
  for (const t of ['m1', 'm2', 'm3']) await queues.enqueue([g], message(t))
  const taken = await queue.read(2).result
  queue.release(taken)
  assert.deepEqual(topics(await queue.read(3).result), ['m1', 'm2', 'm3'])
})

test('beyond maxLength the oldest messages are dropped and counted', async () => {
  const { queues, metrics } = backend({ maxLength: 2, maxAgeMs: 60_000 })
  const g = share('$share/g/t')
  const queue = await queues.join(g)
  for (const t of ['m1', 'm2', 'm3', 'm4']) await queues.enqueue([g], message(t))
  assert.deepEqual(topics(await queue.read(10).result), ['m3', 'm4'])
  assert.equal(await dropped(metrics, 'max_length'), 2)
})

test('messages older than maxAgeMs are dropped when read and counted', async () => {
  const { queues, metrics } = backend({ maxLength: 100, maxAgeMs: 1000 })
  const g = share('$share/g/t')
  const queue = await queues.join(g)
  await queues.enqueue([g], message('old', Date.now() - 5000))
  await queues.enqueue([g], message('fresh'))
  assert.deepEqual(topics(await queue.read(10).result), ['fresh'])
  assert.equal(await dropped(metrics, 'max_age'), 1)
})

test('the last member leaving ends waiting reads; the group keeps messages for maxAgeMs, then the sweep forgets it', async () => {
  const { queues, metrics } = backend({ maxLength: 100, maxAgeMs: 50 })
  const g = share('$share/g/t')
  const queue = await queues.join(g)
  const waiting = queue.read(1)
  queue.close()
  assert.deepEqual(await waiting.result, [])
  await queues.enqueue([g], message('for a member still to come'))
  await queues.sweep()
  assert.deepEqual(queues.groups(), [g], 'kept while younger than maxAgeMs')
  assert.equal((await metrics.lag.get()).values.find((v) => v.labels.group === 'g')?.value, 1)
  await wait(80)
  await queues.sweep()
  assert.deepEqual(queues.groups(), [])
  assert.equal(await dropped(metrics, 'max_age'), 1, 'what it still held is counted as dropped')
})

test('a member joining again before the group is forgotten finds the messages kept for it', async () => {
  const { queues } = backend()
  const g = share('$share/g/t')
  ;(await queues.join(g)).close()
  await queues.enqueue([g], message('kept'))
  const again = await queues.join(g)
  assert.deepEqual(topics(await again.read(1).result), ['kept'])
})
