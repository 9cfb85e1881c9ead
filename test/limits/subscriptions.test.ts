import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Packet } from 'mqtt-packet'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { subackCodes } from '../helpers/suback.js'

// limits.maxSubscriptionsPerClient: a subscription beyond it gets SUBACK 0x97 (v5) / 0x80 (3.1.1)
// for that entry only; the connection and the granted subscriptions stay.

test('subscriptions per client: the ones beyond the limit get SUBACK 0x97 (v5), the others still deliver', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'limits.maxSubscriptionsPerClient': 3 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'many-subs' })
  // Entries of one SUBSCRIBE count before they land.
  assert.deepEqual(await subackCodes(client, ['a/1', 'a/2', 'a/3', 'a/4', 'a/5']), [1, 1, 1, 0x97, 0x97])
  assert.deepEqual(await subackCodes(client, ['b']), [0x97])
  // Re-subscribing to a held filter is not a new subscription.
  assert.deepEqual(await subackCodes(client, ['a/2'], 0), [0])
  // Unsubscribing frees a slot.
  client.send({ cmd: 'unsubscribe', messageId: 900, unsubscriptions: ['a/3'] } as Packet)
  await client.next('unsuback')
  assert.deepEqual(await subackCodes(client, ['b'], 0), [0])

  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'subs-pub' })
  const seen = collect(pub)
  for (const topic of ['a/1', 'b', 'a/4']) await pub.publishAsync(topic, topic, { qos: 1 })
  await waitFor(() => client.received.filter((p) => p.cmd === 'publish').length >= 2, 3000, 'deliveries')
  await new Promise((resolve) => setTimeout(resolve, 100))
  const topics = client.received.filter((p) => p.cmd === 'publish').map((p) => (p as { topic: string }).topic).sort()
  assert.deepEqual(topics, ['a/1', 'b'])
  assert.equal(client.closed, false)
  assert.equal(seen.length, 0)
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'subscriptions' }), 3)
})

test('subscriptions per client, MQTT 3.1.1: SUBACK 0x80 for the entry beyond the limit', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.maxSubscriptionsPerClient': 1 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'v4-subs' })
  assert.deepEqual(await subackCodes(client, ['x', 'y']), [1, 0x80])
  assert.equal(client.closed, false)
})

test('subscriptions per client: a persistent session counts its restored subscriptions', async (t) => {
  const { url, mqttPort } = await startTestNode(t, { 'limits.maxSubscriptionsPerClient': 2 })
  const first = await connectClient(t, url, { protocolVersion: 5, clientId: 'restored', clean: false, properties: { sessionExpiryInterval: 60 } })
  await first.subscribeAsync(['r/1', 'r/2'], { qos: 1 })
  first.end(true)
  await waitFor(() => first.disconnected, 2000, 'first connection closed')
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'restored', clean: false, properties: { sessionExpiryInterval: 60 } })
  assert.deepEqual(await subackCodes(client, ['r/3']), [0x97])
})
