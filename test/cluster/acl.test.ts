import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { collect, connectClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// The ACL filters deliveries on the subscriber's pod: a message on a denied topic published on
// pod A never reaches a broad subscriber on pod B (live, retained, queued, group, will), while
// the subscription itself is granted. Two `starling serve` processes, real Redis. Build first.

const ACL = JSON.stringify([{ action: 'subscribe', topic: 'secret/#', allow: false }])
const will = (topic: string): IClientOptions['will'] => ({ topic, payload: Buffer.from('bye'), qos: 1, retain: false }) as IClientOptions['will']

test('cluster: a denied topic published on pod A is not delivered to a broad subscriber on pod B', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startPods(t, ['acl-a', 'acl-b'], { redisUrl: redis.url, env: { STARLING_ACL: ACL } })
  assert.ok(a !== undefined && b !== undefined)

  for (const protocolVersion of [4, 5] as const) {
    const v = `v${protocolVersion}`
    const pub = await connectClient(t, a.url, { protocolVersion, clientId: `${v}-pub` })
    await pub.publishAsync(`secret/${v}/kept`, 'hidden', { qos: 1, retain: true })
    await pub.publishAsync(`public/${v}/kept`, 'shown', { qos: 1, retain: true })

    const live = await connectClient(t, b.url, { protocolVersion, clientId: `${v}-live` })
    const gotLive = collect(live)
    assert.deepEqual((await live.subscribeAsync('#', { qos: 1 })).map((g) => g.qos), [1], '# is granted beside the deny rule')
    const member = await connectClient(t, b.url, { protocolVersion, clientId: `${v}-member` })
    const gotMember = collect(member)
    await member.subscribeAsync(`$share/g${protocolVersion}/#`, { qos: 1 })
    const session = persistentSession(protocolVersion, `${v}-away`)
    const away = await connectClient(t, b.url, session)
    await away.subscribeAsync('+/+/queued', { qos: 1 })
    await new Promise<void>((resolve) => away.end(false, {}, () => resolve()))

    await pub.publishAsync(`secret/${v}/live`, 'hidden', { qos: 1 })
    await pub.publishAsync(`secret/${v}/queued`, 'hidden', { qos: 1 })
    await pub.publishAsync(`public/${v}/live`, 'shown', { qos: 1 })
    await pub.publishAsync(`public/${v}/queued`, 'shown', { qos: 1 })
    const dying = await connectClient(t, a.url, { protocolVersion, clientId: `${v}-dying`, will: will(`secret/${v}/will`) })
    dying.stream.destroy()
    await sleep(100)
    const dyingToo = await connectClient(t, a.url, { protocolVersion, clientId: `${v}-dying-too`, will: will(`public/${v}/will`) })
    dyingToo.stream.destroy()

    const resumed = resumeSession(t, b.url, session)
    await waitFor(() => gotLive.length >= 4 && gotMember.length >= 3 && resumed.length >= 1, 8000, 'allowed messages on pod B')
    await sleep(300)
    assert.deepEqual(gotLive.map((m) => m.topic), [`public/${v}/kept`, `public/${v}/live`, `public/${v}/queued`, `public/${v}/will`])
    assert.deepEqual(gotMember.map((m) => m.topic), [`public/${v}/live`, `public/${v}/queued`, `public/${v}/will`])
    assert.deepEqual(resumed.map((m) => m.topic), [`public/${v}/queued`])
    await pub.publishAsync(`public/${v}/kept`, '', { qos: 1, retain: true }) // the next round's # sees only its own
  }
})
