import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, sleep, waitFor, type MqttClient } from '../helpers/clients.js'
import { startBalancer } from '../helpers/haproxy.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// Graceful drain behind HAProxy: SIGTERM on the pod holding persistent-session subscribers;
// they reconnect through HAProxy to the other pods and receive every QoS 1 message the
// publisher (also behind HAProxy) got a PUBACK for while they moved.

const TOTAL = 600
const SUBSCRIBERS = 6

function publishAll (client: MqttClient): { acked: Set<number>, done: Promise<void> } {
  const acked = new Set<number>()
  const done = (async () => {
    let inFlight = 0
    const deadline = Date.now() + 30000
    for (let id = 0; id < TOTAL && Date.now() < deadline; id++) {
      while (inFlight >= 10 && Date.now() < deadline) await sleep(2)
      inFlight++
      client.publish('drain/all', String(id), { qos: 1 }, (err) => {
        inFlight--
        if (err === undefined || err === null) acked.add(id)
      })
      if (id % 10 === 0) await sleep(20)
    }
    while (inFlight > 0 && Date.now() < deadline) await sleep(10)
  })()
  return { acked, done }
}

test('cluster: SIGTERM on a pod behind HAProxy moves its persistent sessions without losing a message', async (t) => {
  const redis = await startRedis(t)
  const pods = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url, env: { STARLING_MQTT_PROXY_PROTOCOL: 'true', STARLING_LOG_LEVEL: 'debug' } }) // debug: 'client connected' lines say where each client is
  const port = await startBalancer(t, pods)
  const url = `mqtt://127.0.0.1:${port}`
  const reconnecting = { reconnectPeriod: 100, connectTimeout: 2000 }

  const received: Array<Set<number>> = []
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const got = new Set<number>()
    received.push(got)
    const sub = await connectClient(t, url, { protocolVersion: 5, clientId: `drain-sub-${i}`, clean: false, properties: { sessionExpiryInterval: 300 }, ...reconnecting })
    sub.on('message', (_topic, payload) => got.add(Number(payload.toString())))
    await sub.subscribeAsync({ 'drain/all': { qos: 1 } })
  }
  // The pod holding the most subscribers (round robin spreads them) is drained.
  const subsOn = pods.map((pod) => pod.logLines(/^client connected$/).filter((line) => String(line.clientId).startsWith('drain-sub-')).length)
  const victim = pods[subsOn.indexOf(Math.max(...subsOn))]
  assert.ok(victim !== undefined && Math.max(...subsOn) > 0, `subscribers per pod: ${subsOn.join(',')}`)

  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'drain-pub', ...reconnecting })
  const run = publishAll(pub)
  await waitFor(() => run.acked.size >= TOTAL / 4, 10000, 'traffic before the drain')
  const exit = await victim.kill('SIGTERM', 10000)
  assert.equal(exit.code, 0, 'the drained pod exits 0')
  await run.done

  assert.ok(run.acked.size >= TOTAL / 2, `acknowledged ${run.acked.size} of ${TOTAL}`)
  const missing = (): number[] => received.flatMap((got) => [...run.acked].filter((id) => !got.has(id)))
  await waitFor(() => missing().length === 0, 15000, 'every acknowledged message at every subscriber')
  assert.deepEqual(missing(), [])
  // The drained pod's subscribers came back through HAProxy on the surviving pods.
  const survivors = pods.filter((pod) => pod !== victim)
  const moved = survivors.flatMap((pod) => pod.logLines(/^client connected$/)).filter((line) => String(line.clientId).startsWith('drain-sub-'))
  assert.ok(moved.length >= SUBSCRIBERS, `reconnections on survivors: ${moved.length}`)
})
