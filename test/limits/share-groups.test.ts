import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { subackCodes } from '../helpers/suback.js'

// share.maxGroupsPerClient, share.maxGroups (per installation), share.maxGroupNameLength and the
// characters of a group name: SUBACK 0x97 / 0x8F (v5), 0x80 (3.1.1), for that entry only.

test('groups per client: a $share subscription beyond share.maxGroupsPerClient gets SUBACK 0x97', async (t) => {
  const { mqttPort, httpPort } = await startTestNode(t, { 'share.maxGroupsPerClient': 2 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'grouper' })
  assert.deepEqual(await subackCodes(client, ['$share/g1/a', '$share/g2/a', '$share/g3/a', 'plain/a']), [1, 1, 0x97, 1])
  assert.deepEqual(await subackCodes(client, ['$share/g4/a']), [0x97])
  const { client: v4 } = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'grouper-v4' })
  assert.deepEqual(await subackCodes(v4, ['$share/g1/b', '$share/g2/b', '$share/g3/b']), [1, 1, 0x80])
  assert.equal(client.closed, false)
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'share_groups_per_client' }), 3)
})

test('groups per installation: a subscription creating a group beyond share.maxGroups gets 0x97; joining an existing group still works', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'share.maxGroups': 3 })
  const { client: a } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'inst-a' })
  assert.deepEqual(await subackCodes(a, ['$share/g1/x', '$share/g2/x']), [1, 1])
  const { client: b } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'inst-b' })
  // Same group name with another filter is another group [MQTT-4.8.2].
  assert.deepEqual(await subackCodes(b, ['$share/g3/x', '$share/g1/y', '$share/g4/x']), [1, 0x97, 0x97])
  // An existing group takes new members.
  assert.deepEqual(await subackCodes(b, ['$share/g1/x']), [1])
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'share_groups' }), 2)

  // The members still get the group's messages.
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'inst-pub' })
  collect(pub)
  await pub.publishAsync('x', 'one', { qos: 1 })
  await waitFor(() => [...a.received, ...b.received].filter((p) => p.cmd === 'publish').length >= 3, 3000, 'one per group (g1, g2, g3)')
})

test('group names: longer than share.maxGroupNameLength or with control characters get SUBACK 0x8F (v5) / 0x80', async (t) => {
  const { mqttPort, httpPort } = await startTestNode(t, { 'share.maxGroupNameLength': 8 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'namer' })
  const codes = await subackCodes(client, ['$share/12345678/a', '$share/123456789/a', '$share/ééééé/a', '$share/a\u0007b/a', '$share/ok/a'])
  // 'ééééé' is 10 bytes in UTF-8: the length is in bytes.
  assert.deepEqual(codes, [1, 0x8F, 0x8F, 0x8F, 1])
  const { client: v4 } = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'namer-v4' })
  assert.deepEqual(await subackCodes(v4, ['$share/123456789/a']), [0x80])
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'share_group_name' }), 4)
})
