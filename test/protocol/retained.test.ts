import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: retained messages are set, replaced and cleared by an empty payload [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.1-11]`, async (t) => {
    const { url } = await startTestNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `rt${protocolVersion}-pub` })
    const live = await connectClient(t, url, { protocolVersion, clientId: `rt${protocolVersion}-live` })
    const gotLive = collect(live)
    await live.subscribeAsync('rt/+', { qos: 1 })
    await pub.publishAsync('rt/a', 'first', { qos: 1, retain: true })
    await pub.publishAsync('rt/a', 'second', { qos: 1, retain: true })
    await pub.publishAsync('rt/b', 'gone', { qos: 1, retain: true })
    await pub.publishAsync('rt/b', '', { qos: 1, retain: true })
    // The clearing message itself is delivered like any other [MQTT-3.3.1-10].
    await waitFor(() => gotLive.length === 4)
    assert.deepEqual(gotLive.map((m) => m.payload.toString()), ['first', 'second', 'gone', ''])

    const late = await connectClient(t, url, { protocolVersion, clientId: `rt${protocolVersion}-late` })
    const got = collect(late)
    await late.subscribeAsync('rt/#', { qos: 1 })
    await waitFor(() => got.length >= 1)
    await sleep(100)
    assert.equal(got.length, 1)
    assert.equal(got[0]?.topic, 'rt/a')
    assert.equal(got[0]?.payload.toString(), 'second')
    assert.equal(got[0]?.packet.retain, true, 'retained delivery has retain=1 [MQTT-3.3.1-8]')
  })

  test(`v${protocolVersion}: a retained message is sent at min(stored QoS, subscription QoS)`, async (t) => {
    const { url } = await startTestNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `rq${protocolVersion}-pub` })
    await pub.publishAsync('rq/two', 'q2', { qos: 2, retain: true })
    await pub.publishAsync('rq/one', 'q1', { qos: 1, retain: true })
    await pub.publishAsync('rq/zero', 'q0', { qos: 0, retain: true })
    for (const subQos of [0, 1, 2] as const) {
      for (const filter of ['rq/#', 'rq/two']) {
        const sub = await connectClient(t, url, { protocolVersion, clientId: `rq${protocolVersion}-${subQos}-${filter.length}` })
        const got = collect(sub)
        await sub.subscribeAsync(filter, { qos: subQos })
        const expected = filter === 'rq/#' ? 3 : 1
        await waitFor(() => got.length === expected)
        for (const m of got) {
          const stored = Number(m.payload.toString().slice(1))
          assert.equal(m.packet.qos, Math.min(stored, subQos), `${filter} at QoS ${subQos}, ${m.topic}`)
        }
        sub.end(true)
      }
    }
  })

  test(`v${protocolVersion}: overlapping filters in one SUBSCRIBE send a retained message once`, async (t) => {
    const { url } = await startTestNode(t)
    const pub = await connectClient(t, url, { protocolVersion, clientId: `ro${protocolVersion}-pub` })
    await pub.publishAsync('ro/a', 'x', { qos: 2, retain: true })
    const sub = await connectClient(t, url, { protocolVersion, clientId: `ro${protocolVersion}-sub` })
    const got = collect(sub)
    await sub.subscribeAsync({ 'ro/#': { qos: 0 }, 'ro/+': { qos: 1 }, 'ro/a': { qos: 0 } })
    await waitFor(() => got.length >= 1)
    await sleep(100)
    assert.equal(got.length, 1)
    assert.equal(got[0]?.packet.qos, 1)
  })
}

test('v5: Retain Handling 0 sends on every subscribe, 1 only on a new subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]', async (t) => {
  const { url } = await startTestNode(t)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rh-pub' })
  await pub.publishAsync('rh/t', 'kept', { qos: 1, retain: true })
  const counts: number[] = []
  for (const rh of [0, 1, 2] as const) {
    const sub = await connectClient(t, url, { protocolVersion: 5, clientId: `rh-${rh}` })
    const got = collect(sub)
    await sub.subscribeAsync('rh/#', { qos: 1, rh })
    await sub.subscribeAsync('rh/#', { qos: 1, rh }) // the same subscription again
    await sleep(150)
    counts.push(got.length)
    for (const m of got) assert.equal(m.packet.retain, true)
  }
  assert.deepEqual(counts, [2, 1, 0])
})

test('v5: a retained message carries the Subscription Identifier of the SUBSCRIBE', async (t) => {
  const { url } = await startTestNode(t)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rs-pub' })
  await pub.publishAsync('rs/t', 'kept', { qos: 1, retain: true, properties: { contentType: 'text/plain' } })
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'rs-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('rs/+', { qos: 1, properties: { subscriptionIdentifier: 42 } })
  await waitFor(() => got.length === 1)
  assert.equal(got[0]?.packet.properties?.subscriptionIdentifier, 42)
  assert.equal(got[0]?.packet.properties?.contentType, 'text/plain')
})
