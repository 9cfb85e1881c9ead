import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'
import { eventWatcher } from '../helpers/triggers.js'

// `$trigger` events across pods (real `starling serve` processes on one Redis; `npm run build`
// first): each event is published once cluster-wide — a subscriber on any pod gets one copy, a
// shared group one delivery — also when the pod holding the clients is SIGKILLed: one survivor
// publishes one `disconnected` event per client with reason `pod_died`.

const HEARTBEAT_MS = 250
/** Dead after 3 silent heartbeats, swept every heartbeat, plus slack. */
const DEATH_BOUND_MS = 8 * HEARTBEAT_MS + 3000
const ACL = JSON.stringify([{ action: 'subscribe', topic: '$trigger/#', allow: true }])
const CONNECTED = '$trigger/messaging/device/connected'
const DISCONNECTED = '$trigger/messaging/device/disconnected'

test('cluster: $trigger events once cluster-wide, dead pod\'s clients reported once by a survivor', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['trg-a', 'trg-b', 'trg-c'], {
    redisUrl: redis.url,
    env: { STARLING_ACL: ACL, STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS) }
  })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)
  const onB = await eventWatcher(t, b.url, '$trigger/messaging/device/+', { clientId: 'watch-b' })
  const onC = await eventWatcher(t, c.url, '$trigger/messaging/device/+', { clientId: 'watch-c' })
  const group = await Promise.all([b, c].map((pod, i) => eventWatcher(t, pod.url, '$share/ops/$trigger/messaging/device/+', { clientId: `ops-${i}` })))
  const groupEvents = (topic: string): Array<Record<string, any>> => group.flatMap((m) => m.events(topic))
  const devices = Array.from({ length: 6 }, (_, i) => `dev-${i}`)
  for (const id of devices) await connectClient(t, a.url, { protocolVersion: i5(id), clientId: id, keepalive: 60 })

  await t.test('connected: one copy per subscriber on every other pod, one delivery per event for a shared group', async () => {
    const ofDevices = (events: Array<Record<string, any>>): string[] => events.map((e) => e.clientId as string).filter((id) => id.startsWith('dev-')).sort()
    await waitFor(() => ofDevices(onB.events(CONNECTED)).length >= devices.length && ofDevices(onC.events(CONNECTED)).length >= devices.length && ofDevices(groupEvents(CONNECTED)).length >= devices.length, 5000, 'connected events')
    await sleep(500)
    assert.deepEqual(ofDevices(onB.events(CONNECTED)), [...devices].sort())
    assert.deepEqual(ofDevices(onC.events(CONNECTED)), [...devices].sort())
    assert.deepEqual(ofDevices(groupEvents(CONNECTED)), [...devices].sort())
    assert.ok(onB.events(CONNECTED).filter((e) => e.clientId.startsWith('dev-')).every((e) => e.podId === 'trg-a'))
  })

  await t.test('SIGKILL of the pod holding them: one disconnected event per client, reason pod_died, from one survivor', async () => {
    await a.kill('SIGKILL')
    const died = (events: Array<Record<string, any>>): Array<Record<string, any>> => events.filter((e) => typeof e.clientId === 'string' && e.clientId.startsWith('dev-'))
    await waitFor(() => died(onB.events(DISCONNECTED)).length >= devices.length && died(groupEvents(DISCONNECTED)).length >= devices.length, DEATH_BOUND_MS, 'pod_died events')
    // Further sweeps (both survivors keep sweeping) publish nothing more.
    await sleep(6 * HEARTBEAT_MS)
    for (const events of [died(onB.events(DISCONNECTED)), died(onC.events(DISCONNECTED)), died(groupEvents(DISCONNECTED))]) {
      assert.deepEqual(events.map((e) => e.clientId).sort(), [...devices].sort())
      assert.ok(events.every((e) => e.reason === 'pod_died' && e.podId === 'trg-a'))
      assert.equal(new Set(events.map((e) => e.reportedBy)).size, 1, 'one survivor reports them all')
      assert.ok(['trg-b', 'trg-c'].includes(events[0]?.reportedBy))
      assert.ok(events.every((e) => e.remoteAddress === '127.0.0.1'))
    }
    const reporter = onB.events(DISCONNECTED).find((e) => e.clientId === 'dev-0')?.reportedBy
    const survivor = reporter === 'trg-b' ? b : c
    assert.equal(survivor.logLines(/disconnected events of a dead pod/).length, 1)
  })
})

function i5 (id: string): 4 | 5 {
  return Number(id.slice(4)) % 2 === 0 ? 5 : 4
}
