import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { collect, connectClient, endClient, stopClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

// [MQTT-3.3.4-3..5] Messages replayed from a persistent session's offline queue carry the
// Subscription Identifiers of the client's matching subscriptions, as live ones do: one copy
// with every matching identifier for overlapping subscriptions, none for a subscription
// without an identifier.

test('v5: messages from the offline queue carry the matching Subscription Identifiers', async (t) => {
  const { url, node } = await startTestNode(t)
  const opts = { protocolVersion: 5 as const, clientId: 'si-offline', clean: false, properties: { sessionExpiryInterval: 300 } }
  const first = await connectClient(t, url, opts)
  await first.subscribeAsync('si/+', { qos: 1, properties: { subscriptionIdentifier: 7 } })
  await first.subscribeAsync('si/#', { qos: 2, properties: { subscriptionIdentifier: 9 } })
  await first.subscribeAsync('other/x', { qos: 1, properties: { subscriptionIdentifier: 3 } })
  await first.subscribeAsync('plain/x', { qos: 1 })
  await endClient(first)
  await waitFor(() => node.broker.clients['si-offline'] === undefined, 3000, 'session offline')

  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'si-pub' })
  await pub.publishAsync('si/a', 'both', { qos: 1 })
  await pub.publishAsync('si/a/b', 'hash-only', { qos: 1 })
  await pub.publishAsync('other/x', 'other', { qos: 1 })
  await pub.publishAsync('plain/x', 'plain', { qos: 1 })

  // The collector is attached before the CONNACK: the replay follows it at once.
  const second = mqtt.connect(url, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 })
  t.after(() => stopClient(second))
  const got = collect(second)
  await waitFor(() => got.length >= 4, 5000, 'the queued messages')
  const ids = Object.fromEntries(got.map((m) => {
    const si = m.packet.properties?.subscriptionIdentifier
    return [m.payload.toString(), si === undefined ? undefined : [si].flat().sort((a, b) => a - b)]
  }))
  assert.deepEqual(ids, { both: [7, 9], 'hash-only': [9], other: [3], plain: undefined })
})
