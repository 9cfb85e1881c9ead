import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { userPropertyOrder } from '../../src/broker/user-properties.js'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startBalancer, startHaproxy } from '../helpers/haproxy.js'
import { brokerArgs, mosquittoSub } from '../helpers/mosquitto.js'
import { startPods, type Pod } from '../helpers/pods.js'
import {
  assignedClientIdScenarios, sessionPresentScenarios, sessionResumeScenarios, userPropertyScenarios, willTopicScenarios,
  type GapsTarget
} from '../helpers/protocol-gaps.js'
import { startRedis } from '../helpers/redis.js'

// The protocol rules of test/protocol/{session-resume,will-topic,user-properties}.test.ts on
// three pods sharing one Redis behind HAProxy (round robin: a reconnect lands on another pod),
// so sessions, their records and queues, Message Expiry, User Property order (bus, offline queue,
// group streams) cross pods as on one pod. Run `npm run build` first (pods run dist/).

const HEARTBEAT_MS = 250

async function cluster (t: TestContext): Promise<{ target: GapsTarget, pods: Pod[] }> {
  const redis = await startRedis(t)
  const pods = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], {
    redisUrl: redis.url,
    // debug: 'client connected' lines say which pod served each client
    env: { STARLING_MQTT_PROXY_PROTOCOL: 'true', STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS), STARLING_LOG_LEVEL: 'debug' }
  })
  assert.equal(pods.length, 3)
  const port = await startBalancer(t, pods)
  // Session expiry is swept every heartbeat, cluster-wide.
  return { target: { url: `mqtt://127.0.0.1:${port}`, port, prefix: 'ha', expirySlackMs: 4 * HEARTBEAT_MS }, pods }
}

test('cluster through HAProxy: the protocol rules hold as on one pod', async (t) => {
  const { target, pods } = await cluster(t)
  await t.test('resuming a session with Clean Start 0', async (t) => { await sessionResumeScenarios(t, target) })
  await t.test('Session Present for sessions without subscriptions', async (t) => { await sessionPresentScenarios(t, target) })
  await t.test('will topics must be topic names', async (t) => { await willTopicScenarios(t, target) })
  await t.test('User Properties keep their order', async (t) => { await userPropertyScenarios(t, target) })
  await t.test('assigned client identifiers', async (t) => { await assignedClientIdScenarios(t, target) })
  const served = pods.map((pod) => pod.logLines(/^client connected$/).length)
  assert.ok(served.every((n) => n > 0), `HAProxy spread the clients over the three pods: ${served.join(', ')}`)

  // Last: it kills a pod. The will of a client of the dead pod is published by a survivor from
  // its Redis copy, with the User Properties in order [MQTT-3.3.2-18].
  await t.test('User Properties of a will published by a survivor keep their order', async (t) => {
    const willTopic = 'ha/up/dead-pod-will'
    const clientId = 'ha-up-dead-will'
    const dying = mosquittoSub(t, [...brokerArgs(target.port, 'mqttv5'), '-d', '-i', clientId, '-t', 'ha/up/unused',
      '--will-topic', willTopic, '--will-payload', 'gone', '--will-qos', '1',
      ...[['a', '1'], ['b', '2'], ['a', '3']].flatMap(([name, value]) => ['-D', 'will', 'user-property', name ?? '', value ?? ''])])
    await dying.granted
    const holds = (pod: Pod): boolean => pod.logLines(/^client connected$/).some((line) => line.clientId === clientId)
    await waitFor(() => pods.some(holds), 3000, 'the connect log line of the will client') // pod logs arrive through a pipe
    const victim = pods.find(holds)
    const survivor = pods.find((pod) => pod !== victim)
    assert.ok(victim !== undefined && survivor !== undefined, 'the pod holding the will client')
    // The watcher on a survivor, through its own HAProxy frontend (the pods expect the PROXY header).
    const [direct] = await startHaproxy(t, [survivor.mqttPort])
    const watch = await connectClient(t, `mqtt://127.0.0.1:${String(direct)}`, { protocolVersion: 5, clientId: 'ha-up-dead-will-watch' })
    const got = collect(watch)
    await watch.subscribeAsync({ [willTopic]: { qos: 1 } })
    await victim.kill('SIGKILL')
    await waitFor(() => got.length >= 1, 10000, 'the will from a survivor')
    const packet = got[0]?.packet ?? {}
    assert.deepEqual(userPropertyOrder(packet), ['a', 'b', 'a'])
    assert.deepEqual({ ...got[0]?.packet.properties?.userProperties }, { a: ['1', '3'], b: '2' })
  })
})
