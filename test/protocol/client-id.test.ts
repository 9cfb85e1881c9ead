import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet'
import { collect, connectClient, connectWithAck, refusedCode, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawConnect, rawMqttConnect } from '../helpers/raw-client.js'

test('v5: an empty client id gets an Assigned Client Identifier that works', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client, connack } = await rawMqttConnect(t, mqttPort, { clientId: '' })
  const assigned = (connack as IConnackPacket).properties?.assignedClientIdentifier
  assert.equal((connack as IConnackPacket).reasonCode, 0)
  assert.ok(typeof assigned === 'string' && assigned.length > 0)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cid/a', qos: 1 }] })
  await client.next('suback')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'cid-pub' })
  await pub.publishAsync('cid/a', 'hi', { qos: 1 })
  await client.next('publish')

  const other = await rawMqttConnect(t, mqttPort, { clientId: '' })
  assert.notEqual((other.connack as IConnackPacket).properties?.assignedClientIdentifier, assigned, 'unique per connection')
})

test('v3.1.1: an empty client id is accepted with clean session and refused (0x02) without it [MQTT-3.1.3-7/8]', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const ok = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: '', clean: true })
  assert.equal((ok.connack as IConnackPacket).returnCode, 0)
  // mqtt-packet will not generate this CONNECT, so it is written by hand: "MQTT", level 4,
  // flags 0x00 (Clean Session 0), keep alive 60, zero-length client id.
  const refused = await rawConnect(t, mqttPort, 4)
  refused.sendBytes([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x3c, 0x00, 0x00])
  const connack = await refused.next<IConnackPacket>('connack')
  assert.equal(connack.returnCode, 2)
  await refused.waitClosed()
})

test('takeover (default): the old v5 connection gets DISCONNECT 0x8E, the old v3.1.1 one is closed, the newcomer gets the session', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const old5 = await rawMqttConnect(t, mqttPort, { clientId: 'dup5', clean: false, properties: { sessionExpiryInterval: 60 } })
  old5.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'take/5', qos: 1 }] })
  await old5.client.next('suback')
  const new5 = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'dup5', clean: false, properties: { sessionExpiryInterval: 60 } })
  const disconnect = await old5.client.next<IDisconnectPacket>('disconnect')
  assert.equal(disconnect.reasonCode, 0x8e)
  await old5.client.waitClosed()
  assert.equal(new5.connack.sessionPresent, true)
  const got = collect(new5.client)
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'take-pub' })
  await pub.publishAsync('take/5', 'x', { qos: 1 })
  await waitFor(() => got.length === 1, 3000, 'delivery to the new connection')

  const old4 = await rawMqttConnect(t, mqttPort, { protocolVersion: 4, clientId: 'dup4', clean: false })
  const new4 = await connectWithAck(t, url, { protocolVersion: 4, clientId: 'dup4', clean: false })
  await old4.client.waitClosed()
  assert.equal(old4.client.received.some((p) => p.cmd === 'disconnect'), false, 'no DISCONNECT for 3.1.1')
  assert.equal(new4.client.connected, true)
})

test('clientIdConflict reject: the newcomer is refused (0x85 / 2) and the existing connection is untouched', async (t) => {
  const { url } = await startTestNode(t, { clientIdConflict: 'reject' })
  const existing = await connectClient(t, url, { protocolVersion: 5, clientId: 'taken' })
  const got = collect(existing)
  await existing.subscribeAsync('rej/#', { qos: 1 })

  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'taken' }), 0x85)
  assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: 'taken' }), 2)
  await sleep(100)
  assert.equal(existing.connected, true)
  await existing.publishAsync('rej/a', 'still here', { qos: 1 })
  await waitFor(() => got.length === 1, 3000, 'existing connection still works')

  existing.end()
  await waitFor(() => existing.disconnected, 3000, 'existing gone')
  const after = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'taken' })
  assert.equal(after.connack.reasonCode, 0, 'the id is free again once the holder left')
})
