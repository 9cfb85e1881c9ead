import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

test('a 3.1.1 and a 5 client exchange QoS 1 messages through one node', async (t) => {
  const { url } = await startTestNode(t)
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'sub5' })
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'pub4' })
  const got = collect(sub)
  await sub.subscribeAsync('smoke/#', { qos: 1 })
  await pub.publishAsync('smoke/a', 'hello', { qos: 1 })
  await waitFor(() => got.length === 1)
  assert.equal(got[0]?.topic, 'smoke/a')
  assert.equal(got[0]?.payload.toString(), 'hello')
  assert.equal(got[0]?.packet.qos, 1)
})
