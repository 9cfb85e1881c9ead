import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import mqtt, { type IClientOptions, type IConnackPacket } from 'mqtt'
import { connectClient, endClient, persistentSession, sleep, stopClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { commandCalls, startRedis, testRedisIsCluster, type TestRedis } from '../helpers/redis.js'

// What a persistent CONNECT reads of its session (issue 16 target 3): the session quota and
// aedes' fetchSubs share one read of the stored subscriptions, and a session with one is known to
// exist without an EXISTS of its record (one without asks it). The queued message, the live one
// after it and Session Present show the resume is whole. Two in-process nodes on one real Redis.

/** Connects with its messages collected from the start (a queued one follows the CONNACK at once). */
async function resume (t: TestContext, url: string, options: IClientOptions): Promise<{ connack: IConnackPacket, got: string[] }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t.after(() => stopClient(client))
  const got: string[] = []
  client.on('message', (_topic, payload) => got.push(payload.toString()))
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { connack, got }
}

// (HGETALL is not counted: the pods' background work makes some too)
const counts = async (redis: TestRedis): Promise<{ exists: number }> => ({
  exists: await commandCalls(redis, /^cmdstat_exists:calls=(\d+)/)
})

test('a persistent resume asks for no session record when it has a subscription; its queue and Session Present are as before', { skip: testRedisIsCluster() ? 'command counts of one server' : false }, async (t) => {
  const redis = await startRedis(t)
  const a = await startTestNode(t, { nodeId: 'rr-a', 'redis.url': redis.url, 'log.level': 'warn' })
  const b = await startTestNode(t, { nodeId: 'rr-b', 'redis.url': redis.url, 'log.level': 'warn' })
  await sleep(500)

  // a session with a subscription, and a message queued while it is away
  const session = persistentSession(4, 'rr-sub')
  const first = await connectClient(undefined, a.url, session)
  await first.subscribeAsync('resume/reads', { qos: 1 })
  await endClient(first)
  const pub = await connectClient(t, a.url, { protocolVersion: 4, clientId: 'rr-pub' })
  await pub.publishAsync('resume/reads', 'queued', { qos: 1 })

  const before = await counts(redis)
  const { connack, got } = await resume(t, b.url, session)
  assert.equal(connack.sessionPresent, true, 'Session Present 1') // [MQTT-3.2.2-2]
  await waitFor(() => got.length >= 1, 5000, 'the queued message on resume')
  const after = await counts(redis)
  assert.equal(after.exists - before.exists, 0, 'no EXISTS of the session record: its subscription says it exists')
  await pub.publishAsync('resume/reads', 'live', { qos: 1 })
  await waitFor(() => got.length >= 2, 5000, 'a live message after the resume')
  assert.deepEqual(got, ['queued', 'live'])

  // a session without subscriptions still exists: its record answers (Session Present 1)
  const bare = persistentSession(4, 'rr-bare')
  await endClient(await connectClient(undefined, a.url, bare))
  const bareBefore = await counts(redis)
  const bareBack = await resume(t, b.url, bare)
  assert.equal(bareBack.connack.sessionPresent, true, 'Session Present 1 for a session with no subscription') // [MQTT-3.2.2-2]
  assert.equal((await counts(redis)).exists - bareBefore.exists, 1, 'its record asked for')
})
