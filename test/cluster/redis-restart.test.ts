import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, persistentSession, sleep, waitFor, type MqttClient } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// Redis restarts (SIGKILL, same port, append-only file kept, as a production Redis with
// persistence) while QoS 1 messages flow from pod A to a persistent session on pod B: every
// message whose PUBACK the publisher received reaches the subscriber (duplicates allowed).

const TOTAL = 2000
const WINDOW = 20

async function readyzBecomes (pod: Pod, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await pod.readyz() === status) return
    await sleep(50)
  }
  throw new Error(`${pod.id} /readyz did not become ${status}`)
}

/** Publishes ids 0..TOTAL-1 with at most WINDOW unanswered; resolves with the ids acknowledged positively. */
function publishAll (client: MqttClient, paceMs: number): { acked: Set<number>, failed: Set<number>, done: Promise<void> } {
  const acked = new Set<number>()
  const failed = new Set<number>()
  const done = (async () => {
    let inFlight = 0
    const deadline = Date.now() + 60000
    for (let id = 0; id < TOTAL && Date.now() < deadline; id++) {
      while (inFlight >= WINDOW && Date.now() < deadline) await sleep(2)
      inFlight++
      client.publish('restart/data', String(id), { qos: 1 }, (err) => {
        inFlight--
        if (err === undefined || err === null) acked.add(id)
        else failed.add(id)
      })
      if (id % 10 === 0) await sleep(paceMs)
    }
    while (inFlight > 0 && Date.now() < deadline) await sleep(10)
  })()
  return { acked, failed, done }
}

test('cluster: Redis restart mid-stream loses no acknowledged QoS 1 message to a persistent session', async (t) => {
  const redis = await startRedis(t, { appendOnly: true })
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: redis.url })
  assert.ok(a !== undefined && b !== undefined)

  const received = new Set<number>()
  // The subscriber's will would reach itself (retained, on a topic it subscribes to).
  const will = { topic: 'restart/will', payload: Buffer.from('gone'), qos: 1 as const, retain: true }
  const sub = await connectClient(t, b.url, { ...persistentSession(5, 'restart-sub'), reconnectPeriod: 200, will })
  let willSeen = false
  let serverBusy = 0
  sub.on('message', (topic, payload) => {
    if (topic === will.topic) willSeen = true
    else received.add(Number(payload.toString()))
  })
  sub.on('disconnect', (packet) => { if (packet.reasonCode === 0x89) serverBusy++ })
  await sub.subscribeAsync({ 'restart/#': { qos: 1 } })
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'restart-pub', reconnectPeriod: 200 })

  const run = publishAll(pub, 20)
  await waitFor(() => run.acked.size >= 300, 10000, 'traffic before the outage')
  await redis.stop('SIGKILL')
  await Promise.all([readyzBecomes(a, 503, 5000), readyzBecomes(b, 503, 5000)])
  // Long enough for the pods' reconnect back-off (jittered) to spread their returns apart.
  await sleep(2500)
  await redis.start()
  await Promise.all([readyzBecomes(a, 200, 10000), readyzBecomes(b, 200, 10000)])
  await run.done

  assert.ok(run.acked.size >= TOTAL / 2, `acknowledged ${run.acked.size}, failed ${run.failed.size}`)
  await waitFor(() => [...run.acked].every((id) => received.has(id)), 15000, 'every acknowledged message delivered')
  const missing = [...run.acked].filter((id) => !received.has(id))
  assert.deepEqual(missing, [], 'acknowledged but never delivered')
  // Pod B restarted the session's connection to replay its queue (DISCONNECT 0x89 Server busy),
  // a server-side restart that neither publishes nor deletes the will [MQTT-3.1.2-8].
  assert.ok(serverBusy >= 1, 'the subscriber was asked to reconnect after the outage')
  assert.equal(willSeen, false, 'the will was not published')
})
