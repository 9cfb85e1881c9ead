import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { connectClient, persistentSession, resumeSession, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// Persistent fan-out across three `starling serve` pods sharing one real redis-server: every
// QoS 1 message the publisher got a PUBACK for reaches every persistent subscriber, live and from
// the stored queue after a reconnect [MQTT-4.3.2] [MQTT-4.5.0-1] [MQTT-4.6.0-6]. The cluster
// benchmark once lost whole messages to every subscriber here. Build first: `npm run build`.

const SUBSCRIBERS = 30
const MESSAGES = 300
/** PUBLISHes the publisher keeps unacknowledged at once (paced, like the benchmark's window). */
const WINDOW = 20

/** Publishes `count` QoS 1 messages `0..count-1` with at most WINDOW in flight; resolves once all are PUBACKed. */
async function publishAll (pub: MqttClient, topicOf: (i: number) => string, count: number, qosOf: (i: number) => 0 | 1 = () => 1): Promise<number[]> {
  const acked: number[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      await pub.publishAsync(topicOf(i), String(i), { qos: qosOf(i) })
      if (qosOf(i) === 1) acked.push(i)
    }
  }
  await Promise.all(Array.from({ length: WINDOW }, worker))
  return acked.sort((x, y) => x - y)
}

/** The distinct message ids in `got` (payloads), sorted. */
function ids (got: readonly Received[], topic?: string): number[] {
  return [...new Set(got.filter((m) => topic === undefined || m.topic === topic).map((m) => Number(m.payload.toString())))].sort((x, y) => x - y)
}

function missing (expected: readonly number[], got: readonly number[]): number[] {
  const have = new Set(got)
  return expected.filter((i) => !have.has(i))
}

async function subscribers (t: TestContext, pods: readonly Pod[], prefix: string, filter: string): Promise<Array<{ client: MqttClient, got: Received[], id: string }>> {
  return await Promise.all(Array.from({ length: SUBSCRIBERS }, async (_, i) => {
    const id = `${prefix}-${i}`
    const client = await connectClient(t, pods[i % pods.length]?.url ?? '', persistentSession(5, id))
    const got: Received[] = []
    client.on('message', (topic, payload, packet) => got.push({ topic, payload, packet }))
    await client.subscribeAsync({ [filter]: { qos: 1 } })
    return { client, got, id }
  }))
}

function assertEveryoneGotAll (subs: ReadonlyArray<{ got: readonly Received[], id: string }>, acked: readonly number[], topic?: string): void {
  const short = subs.flatMap((s) => {
    const lost = missing(acked, ids(s.got, topic))
    return lost.length === 0 ? [] : [`${s.id} missing ${lost.length} (first ${lost.slice(0, 5).join(',')})`]
  })
  assert.deepEqual(short, [], 'every PUBACKed message reaches every persistent subscriber')
}

test('cluster: persistent fan-out over 3 pods loses no acknowledged QoS 1 message', async (t) => {
  const redis = await startRedis(t)
  const pods = await startPods(t, ['fan-a', 'fan-b', 'fan-c'], { redisUrl: redis.url })
  const [a] = pods
  assert.ok(a !== undefined)
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'fan-pub' })

  await t.test('online subscribers spread over the pods each get every message', async (t) => {
    const subs = await subscribers(t, pods, 'live', 'fan/live')
    const acked = await publishAll(pub, () => 'fan/live', MESSAGES)
    assert.equal(acked.length, MESSAGES)
    await waitFor(() => subs.every((s) => ids(s.got).length >= MESSAGES), 15000, 'every message at every subscriber').catch(() => {})
    assertEveryoneGotAll(subs, acked)
    await Promise.all(subs.map(async (s) => await s.client.endAsync()))
  })

  await t.test('a message on a busy topic is not lost when a later one on a quiet topic overtakes it', async (t) => {
    // Messages alternate between `mix/busy` (30 persistent sessions: 30 queue writes each) and
    // `mix/quiet` (QoS 0 and QoS 1, no other session): the quiet ones are ready to go out sooner.
    const subs = await subscribers(t, pods, 'busy', 'mix/busy')
    const watcher = await connectClient(t, pods[1]?.url ?? '', persistentSession(5, 'mix-watcher'))
    const seen: Received[] = []
    watcher.on('message', (topic, payload, packet) => seen.push({ topic, payload, packet }))
    await watcher.subscribeAsync({ 'mix/#': { qos: 1 } })
    const acked = await publishAll(pub, (i) => i % 2 === 0 ? 'mix/busy' : 'mix/quiet', MESSAGES, (i) => i % 4 === 1 ? 0 : 1)
    const busy = acked.filter((i) => i % 2 === 0)
    const quiet = acked.filter((i) => i % 2 === 1)
    await waitFor(() => ids(seen).filter((i) => i % 2 === 0 || i % 4 === 3).length >= acked.length && subs.every((s) => ids(s.got).length >= busy.length), 15000, 'every message').catch(() => {})
    assertEveryoneGotAll(subs, busy)
    assert.deepEqual(missing(busy, ids(seen, 'mix/busy')), [], 'the watcher gets every busy-topic message')
    assert.deepEqual(missing(quiet, ids(seen, 'mix/quiet')), [], 'the watcher gets every quiet-topic QoS 1 message')
    await Promise.all([...subs.map(async (s) => await s.client.endAsync()), watcher.endAsync()])
  })

  await t.test('offline subscribers get every message on resuming, on another pod', async (t) => {
    const subs = await subscribers(t, pods, 'off', 'fan/off')
    await Promise.all(subs.map(async (s) => await s.client.endAsync()))
    const acked = await publishAll(pub, () => 'fan/off', MESSAGES)
    assert.equal(acked.length, MESSAGES)
    const resumed = subs.map((s, i) => ({ id: s.id, got: resumeSession(t, pods[(i + 1) % pods.length]?.url ?? '', persistentSession(5, s.id)) }))
    await waitFor(() => resumed.every((s) => ids(s.got).length >= MESSAGES), 20000, 'the stored queues').catch(() => {})
    assertEveryoneGotAll(resumed, acked)
  })
})
