import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, sleep, waitFor, type Received } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// Three `starling serve` processes sharing one real redis-server: messages and retained state
// cross pods. Build first: `npm run build`.

const sorted = (got: readonly Received[]): string[] => got.map((m) => `${m.topic} ${m.payload.toString()} q${m.packet.qos}`).sort()

test('cluster: publish and retained messages cross pods', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)

  await t.test('a publish on pod A reaches subscribers on B and C at QoS 0, 1 and 2, wildcards included', async (t) => {
    for (const protocolVersion of [4, 5] as const) {
      const prefix = `x/v${protocolVersion}`
      const subB = await connectClient(t, b.url, { protocolVersion, clientId: `sub-b-${protocolVersion}` })
      const subC = await connectClient(t, c.url, { protocolVersion, clientId: `sub-c-${protocolVersion}` })
      await subB.subscribeAsync({ [`${prefix}/+/temp`]: { qos: 2 } })
      await subC.subscribeAsync({ [`${prefix}/#`]: { qos: 2 }, [`${prefix}/exact/0`]: { qos: 1 } })
      const gotB = collect(subB)
      const gotC = collect(subC)
      const pub = await connectClient(t, a.url, { protocolVersion, clientId: `pub-a-${protocolVersion}` })
      for (const qos of [0, 1, 2] as const) {
        await pub.publishAsync(`${prefix}/room${qos}/temp`, `t${qos}`, { qos })
      }
      await pub.publishAsync(`${prefix}/exact/0`, 'exact', { qos: 1 })

      await waitFor(() => gotB.length >= 3 && gotC.length >= 4, 5000, 'cross-pod deliveries')
      await sleep(200) // nothing more (no duplicate from the overlapping filters on C)
      assert.deepEqual(sorted(gotB), [`${prefix}/room0/temp t0 q0`, `${prefix}/room1/temp t1 q1`, `${prefix}/room2/temp t2 q2`])
      assert.deepEqual(sorted(gotC), [`${prefix}/exact/0 exact q1`, `${prefix}/room0/temp t0 q0`, `${prefix}/room1/temp t1 q1`, `${prefix}/room2/temp t2 q2`])
      await Promise.all([subB.endAsync(), subC.endAsync(), pub.endAsync()])
    }
  })

  await t.test('retained on A is delivered on subscribe at B; cleared on C it is gone everywhere', async (t) => {
    const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'ret-pub' })
    await pub.publishAsync('ret/1/state', 'on', { qos: 1, retain: true })
    await pub.publishAsync('ret/2/state', 'off', { qos: 1, retain: true })

    const subB = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'ret-sub-b' })
    const gotB = collect(subB)
    await subB.subscribeAsync({ 'ret/+/state': { qos: 1 } })
    await waitFor(() => gotB.length >= 2, 5000, 'retained at B')
    assert.deepEqual(sorted(gotB), ['ret/1/state on q1', 'ret/2/state off q1'])
    assert.ok(gotB.every((m) => m.packet.retain), 'delivered with RETAIN set on subscribe')
    const exact = await connectClient(t, c.url, { protocolVersion: 4, clientId: 'ret-exact-c' })
    const gotExact = collect(exact)
    await exact.subscribeAsync({ 'ret/2/state': { qos: 0 } })
    await waitFor(() => gotExact.length >= 1, 5000, 'retained on an exact filter at C')
    assert.equal(gotExact[0]?.payload.toString(), 'off')

    const clearer = await connectClient(t, c.url, { protocolVersion: 4, clientId: 'ret-clear-c' })
    await clearer.publishAsync('ret/1/state', '', { qos: 1, retain: true })
    // The empty retained message itself is delivered live to B (a normal publish).
    await waitFor(() => gotB.length >= 3, 5000, 'live clear at B')

    for (const [i, pod] of [a, b, c].entries()) {
      const late = await connectClient(t, pod.url, { protocolVersion: 5, clientId: `ret-late-${i}` })
      const got = collect(late)
      await late.subscribeAsync({ 'ret/#': { qos: 1 } })
      await waitFor(() => got.length >= 1, 5000, `remaining retained at ${pod.id}`)
      await sleep(150)
      assert.deepEqual(sorted(got), ['ret/2/state off q1'], `only the uncleared topic is retained at ${pod.id}`)
      await late.endAsync()
    }
  })
})
