import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, persistentSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// A QoS 2 PUBLISH is stored (its packet id, for the duplicate check) before it is published,
// and PUBREC follows the publish. When the connection ended between the two (the pod SIGKILLed,
// as in the chaos run; or the group enqueue failing), the publisher resent the PUBLISH on its
// next connection, the resend found the stored id and was answered PUBREC without a publish: the
// flow completed and the `$share` group, whose entry is written last, never got the message
// [MQTT-4.3.3-8]. Now such a resend goes to the groups again (subscribers had it: no second
// copy). Here the group enqueue fails once (XADD refused by a Redis ACL), deterministically at
// that point. Build first: `npm run build`.

const SHARE_ENV = { STARLING_SHARE_SWEEP_MS: '250', STARLING_SHARE_CLAIM_IDLE_MS: '1500' }

/** XADD refused or allowed again for the pods' Redis user (every master of a test cluster). */
async function xadd (redis: { cli: (args: readonly string[]) => Promise<string[]> }, allowed: boolean): Promise<void> {
  const lines = await redis.cli(['ACL', 'SETUSER', 'default', allowed ? '+xadd' : '-xadd'])
  assert.ok(lines.length > 0 && lines.every((line) => line === 'OK'), lines.join(' '))
}

test('cluster: a QoS 2 PUBLISH resent after its first connection ended before PUBREC reaches the group', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: redis.url, env: SHARE_ENV }) as [Pod, Pod]

  const member = await connectClient(t, b.url, { ...persistentSession(5, 'resend-m'), reconnectPeriod: 0 })
  const got = collect(member)
  await member.subscribeAsync('$share/resend/resend/#', { qos: 2 })
  const plain = await connectClient(t, b.url, { clientId: 'resend-plain' })
  const plainGot = collect(plain)
  await plain.subscribeAsync('resend/#', { qos: 2 })

  for (const protocolVersion of [5, 4] as const) {
    const topic = `resend/v${protocolVersion}`
    const pub = await connectClient(t, a.url, { ...persistentSession(protocolVersion, `resend-pub-${protocolVersion}`), reconnectPeriod: 300 })
    let closes = 0
    pub.on('close', () => { closes++ })
    // The group's entry cannot be written: the publish fails after the packet id was stored.
    await xadd(redis, false)
    const completed = pub.publishAsync(topic, 'once', { qos: 2 })
    try {
      await waitFor(() => closes > 0, 10000, 'the failed publish to end the connection')
    } finally {
      await xadd(redis, true)
    }
    // mqtt.js resends the PUBLISH (DUP) on its next connection; the flow completes.
    await completed
    await waitFor(() => got.some((m) => m.topic === topic), 10000, `the group's copy of ${topic}`)
    await waitFor(() => plainGot.some((m) => m.topic === topic), 5000, `the plain subscriber's copy of ${topic}`)
    await sleep(300)
    assert.equal(got.filter((m) => m.topic === topic).length, 1, 'the group got it once')
    // The first attempt reached the subscriber; the resend goes to the groups only [MQTT-4.3.3-9].
    assert.equal(plainGot.filter((m) => m.topic === topic).length, 1, 'the subscriber got it once')
    assert.ok(got.every((m) => m.packet.qos === 2))
    await pub.endAsync()
  }
})
