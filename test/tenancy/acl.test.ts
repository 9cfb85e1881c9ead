import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, connectWithAck, endClient, sleep, waitFor } from '../helpers/clients.js'
import { ALPHA, startTenancyNode } from '../helpers/tenancy.js'

// The config file's ACL rules name a client's own topics, in a tenant's space too: a tenant
// client's `#` gets nothing its rules deny, live or from its offline queue (the delivery check
// and the queue see the mounted topic, and judge it without the mount).

test('a config deny rule keeps a tenant client\'s # from the denied topics, live and queued', async (t) => {
  const n = await startTenancyNode(t, { acl: [{ action: 'subscribe', topic: 'secret/#', allow: false }] })
  const live = await connectClient(t, ...n.ws(ALPHA, { protocolVersion: 5, clientId: 'live' }))
  const got = collect(live)
  await live.subscribeAsync('#', { qos: 1 })
  const queued = { protocolVersion: 5 as const, clientId: 'queued', clean: false, properties: { sessionExpiryInterval: 300 } }
  const offline = await connectClient(t, ...n.ws(ALPHA, queued))
  await offline.subscribeAsync('#', { qos: 1 })
  await endClient(offline)

  const pub = await connectClient(t, ...n.ws(ALPHA, { protocolVersion: 5, clientId: 'pub' }))
  await pub.publishAsync('secret/x', 'hidden', { qos: 1 })
  await pub.publishAsync('open/x', 'shown', { qos: 1 })
  await waitFor(() => got.length >= 1, 5000, 'the allowed message')
  await sleep(150)
  assert.deepEqual(got.map((m) => m.topic), ['open/x'])

  const { got: gotBack } = await connectWithAck(t, ...n.ws(ALPHA, queued))
  await waitFor(() => gotBack.length >= 1, 5000, 'the queued allowed message')
  await sleep(150)
  assert.deepEqual(gotBack.map((m) => m.topic), ['open/x'])
})
