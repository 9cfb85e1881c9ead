import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Client } from '../../src/broker/engine.js'
import { Registry } from 'prom-client'
import { pino } from 'pino'
import { GroupDispatcher, type Member } from '../../src/groups/dispatcher.js'
import { MemoryQueueBackend } from '../../src/groups/memory-queue.js'
import { createShareMetrics, type ShareMetrics } from '../../src/groups/metrics.js'
import { parseShare, type ShareFilter } from '../../src/groups/parse.js'
import type { ShareMessage } from '../../src/groups/queue.js'

interface Sent { cmd: string, topic: string, qos: number, retain: boolean, messageId?: number, properties?: Record<string, unknown>, shareGroup: string }

/**
 * The part of an aedes client the dispatcher uses (packet ids, Receive Maximum, subscriptions,
 * deliverQoS), recording what it is handed; aedes' own client is exercised by the protocol tests.
 */
class RecordingClient {
  _nextId = 1
  closed = false
  readonly sent: Sent[] = []
  readonly subscriptions: Record<string, { rap?: boolean }> = {}
  /** No ACL: every message may be forwarded (the ACL's own tests cover refusals). */
  readonly broker = { authorizeForward: (_client: unknown, packet: Sent): Sent | null => packet }
  constructor (readonly id: string, readonly receiveMaximum?: number) {}
  deliverQoS (packet: Sent, cb: () => void): void {
    this.sent.push(packet)
    setImmediate(cb)
  }
}

const g = parseShare('$share/g/t/#') as ShareFilter
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10))
const message = (topic: string, extra: Partial<ShareMessage> = {}): ShareMessage => ({ topic, payload: Buffer.from(topic), qos: 1, retain: false, enqueuedAt: Date.now(), ...extra })

async function group (options: { window?: number, readBatch?: number } = {}): Promise<{ dispatcher: GroupDispatcher, queues: MemoryQueueBackend, metrics: ShareMetrics, tracked: Map<string, number[]> }> {
  const metrics = createShareMetrics(new Registry())
  const queues = new MemoryQueueBackend({ maxLength: 1000, maxAgeMs: 60_000 }, metrics)
  const tracked = new Map<string, number[]>()
  const dispatcher = new GroupDispatcher({
    queue: await queues.join(g),
    metrics,
    logger: pino({ level: 'silent' }),
    window: options.window ?? 10,
    readBatch: options.readBatch ?? 1,
    track: (client, messageId) => { tracked.set(client.id, [...tracked.get(client.id) ?? [], messageId]) },
    untrack: (client, messageId) => { tracked.set(client.id, (tracked.get(client.id) ?? []).filter((id) => id !== messageId)) }
  })
  return { dispatcher, queues, metrics, tracked }
}

function join (dispatcher: GroupDispatcher, client: RecordingClient, qos: 0 | 1 | 2 = 1, si?: number): Member {
  const member: Member = { client: client as unknown as Client, topic: '$share/g/t/#', qos, si, inflight: new Map(), sending: 0, reserved: 0, read: undefined, gone: false }
  dispatcher.add(member)
  return member
}

async function publish (queues: MemoryQueueBackend, messages: readonly ShareMessage[]): Promise<void> {
  for (const m of messages) await queues.enqueue([g], m)
  await settle()
}

test('each message goes to one member, and members take turns', async () => {
  const { dispatcher, queues } = await group()
  const a = new RecordingClient('a')
  const b = new RecordingClient('b')
  join(dispatcher, a, 0)
  join(dispatcher, b, 0)
  await publish(queues, Array.from({ length: 10 }, (_, i) => message(`t/${i}`, { qos: 0 })))
  const got = [...a.sent, ...b.sent].map((p) => p.topic).sort()
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `t/${i}`).sort())
  assert.equal(a.sent.length, 5)
  assert.equal(b.sent.length, 5)
  assert.ok(a.sent.every((p) => p.shareGroup === 'g'))
})

test('a member has at most `window` QoS 1 messages in flight; an acknowledgement lets the next one go', async () => {
  const { dispatcher, queues, tracked } = await group({ window: 2 })
  const a = new RecordingClient('a')
  const member = join(dispatcher, a)
  await publish(queues, [message('t/1'), message('t/2'), message('t/3')])
  assert.deepEqual(a.sent.map((p) => p.topic), ['t/1', 't/2'])
  assert.equal(dispatcher.pending, 2)
  assert.deepEqual(tracked.get('a'), [1, 2], 'acknowledgements are routed back by packet id')
  dispatcher.acked(member, 1)
  await settle()
  assert.deepEqual(a.sent.map((p) => p.topic), ['t/1', 't/2', 't/3'])
})

test('the window is at most the member\'s Receive Maximum [MQTT-3.3.4-7]', async () => {
  const { dispatcher, queues } = await group({ window: 10, readBatch: 10 })
  const a = new RecordingClient('a', 1)
  join(dispatcher, a)
  await publish(queues, [message('t/1'), message('t/2')])
  assert.equal(a.sent.length, 1)
})

test('delivered at the lower of publish and subscription QoS [MQTT-3.8.4-6]; packet ids wrap from 65535 to 1', async () => {
  const { dispatcher, queues } = await group()
  const a = new RecordingClient('a')
  a._nextId = 65535
  const member = join(dispatcher, a, 1)
  await publish(queues, [message('t/1', { qos: 2 }), message('t/2', { qos: 1 })])
  assert.deepEqual(a.sent.map((p) => [p.qos, p.messageId]), [[1, 65535], [1, 1]])
  dispatcher.acked(member, 65535)
  dispatcher.acked(member, 1)
  await publish(queues, [message('t/3', { qos: 0 })])
  assert.deepEqual(a.sent.at(-1)?.qos, 0)
  assert.equal(a.sent.at(-1)?.messageId, undefined)
})

test('the messages of a member that leaves go to another member, counted as redelivered [MQTT-4.8.2]', async () => {
  const { dispatcher, queues, metrics, tracked } = await group({ window: 2 })
  const a = new RecordingClient('a')
  const leaving = join(dispatcher, a)
  await publish(queues, [message('t/1'), message('t/2')])
  assert.equal(a.sent.length, 2)
  const b = new RecordingClient('b')
  join(dispatcher, b)
  dispatcher.remove(leaving)
  await settle()
  assert.deepEqual(b.sent.map((p) => p.topic).sort(), ['t/1', 't/2'])
  assert.deepEqual(tracked.get('a'), [], 'the leaver\'s packet ids are forgotten')
  metrics.counts.redelivered.drainInto(metrics.redelivered)
  assert.equal((await metrics.redelivered.get()).values[0]?.value, 2)
})

test('with no member left, unacknowledged messages go back to the group\'s queue for the next member', async () => {
  const { dispatcher, queues } = await group()
  const a = new RecordingClient('a')
  const leaving = join(dispatcher, a)
  await publish(queues, [message('t/1')])
  dispatcher.remove(leaving)
  const b = new RecordingClient('b')
  join(dispatcher, b)
  await settle()
  assert.deepEqual(b.sent.map((p) => p.topic), ['t/1'])
})

test('an expired message is not delivered [MQTT-3.3.2-5]; a live one carries its remaining expiry, the Subscription Identifier, and Retain As Published', async () => {
  const { dispatcher, queues, metrics } = await group()
  const a = new RecordingClient('a')
  a.subscriptions['$share/g/t/#'] = { rap: true }
  join(dispatcher, a, 1, 42)
  await publish(queues, [
    message('t/expired', { messageExpiry: Date.now() - 1 }),
    message('t/live', { messageExpiry: Date.now() + 2500, retain: true })
  ])
  assert.deepEqual(a.sent.map((p) => p.topic), ['t/live'])
  assert.equal(a.sent[0]?.retain, true)
  assert.equal(a.sent[0]?.properties?.messageExpiryInterval, 3)
  assert.equal(a.sent[0]?.properties?.subscriptionIdentifier, 42)
  assert.equal((await metrics.dropped.get()).values.find((v) => v.labels.reason === 'expired')?.value, 1)
})

test('without Retain As Published a group copy is sent with RETAIN 0 [MQTT-3.3.1-12]', async () => {
  const { dispatcher, queues } = await group()
  const a = new RecordingClient('a')
  join(dispatcher, a)
  await publish(queues, [message('t/r', { retain: true })])
  assert.equal(a.sent[0]?.retain, false)
})
