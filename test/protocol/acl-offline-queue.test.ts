import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, endClient, persistentSession, resumeSession, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

// Messages for an offline persistent session that its ACL does not let it read are not queued
// for it (the config file's rules, which every client shares), so they take no place in its
// queue (limits.maxQueuedMessages) and the messages it may read are kept.

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: denied messages take no place in an offline session's queue`, async (t) => {
    const { url, node } = await startTestNode(t, {
      'limits.maxQueuedMessages': 3,
      acl: [{ action: 'subscribe', topic: 'q/secret/#', allow: false }]
    })
    const opts = persistentSession(protocolVersion, `aq${protocolVersion}`)
    const sub = await connectClient(t, url, opts)
    await sub.subscribeAsync('q/#', { qos: 1 })
    await endClient(sub)
    await waitFor(() => node.broker.clients[`aq${protocolVersion}`] === undefined, 3000, 'session offline')

    const pub = await connectClient(t, url, { protocolVersion: 5, clientId: `aq${protocolVersion}-pub` })
    for (let i = 0; i < 5; i++) await pub.publishAsync(`q/secret/${i}`, 'hidden', { qos: 1 })
    for (let i = 0; i < 3; i++) await pub.publishAsync(`q/open/${i}`, `open-${i}`, { qos: 1 })

    const got = resumeSession(t, url, opts)
    await waitFor(() => got.length >= 3, 5000, 'the three readable messages')
    await sleep(150)
    assert.deepEqual(got.map((m) => m.payload.toString()), ['open-0', 'open-1', 'open-2'])
  })
}
