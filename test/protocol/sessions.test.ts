import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet'
import type { StarlingNode } from '../../src/node.js'
import { collect, connectClient, connectWithAck, endClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

/** Waits until the broker has finished closing `clientId`'s connection (so a reconnect is not a takeover). */
function gone (node: StarlingNode, clientId: string): Promise<void> {
  return waitFor(() => node.broker.clients[clientId] === undefined, 3000, `${clientId} gone`)
}

test('3.1.1: session present reflects a stored session and clean session discards it [MQTT-3.2.2-1..3]', async (t) => {
  const { url, node } = await startTestNode(t)
  const opts = { protocolVersion: 4 as const, clientId: 'v4-session', clean: false }
  const first = await connectWithAck(t, url, opts)
  assert.equal(first.connack.sessionPresent, false, 'no session existed yet [MQTT-3.2.2-3]')
  await first.client.subscribeAsync('s/v4', { qos: 1 })
  await endClient(first.client)
  await gone(node, 'v4-session')

  const second = await connectWithAck(t, url, opts)
  assert.equal(second.connack.sessionPresent, true, 'stored session resumed [MQTT-3.2.2-2]')
  await endClient(second.client)
  await gone(node, 'v4-session')

  const clean = await connectWithAck(t, url, { ...opts, clean: true })
  assert.equal(clean.connack.sessionPresent, false, 'clean session always 0 [MQTT-3.2.2-1]')
  await endClient(clean.client)
  await gone(node, 'v4-session')

  const after = await connectWithAck(t, url, opts)
  assert.equal(after.connack.sessionPresent, false, 'the clean session discarded the old one')
})

test('5: a session is kept for its expiry interval and discarded after it', async (t) => {
  const { url, node } = await startTestNode(t)
  const opts = { protocolVersion: 5 as const, clientId: 'v5-expiry', clean: false, properties: { sessionExpiryInterval: 1 } }
  const first = await connectWithAck(t, url, opts)
  assert.equal(first.connack.sessionPresent, false)
  await first.client.subscribeAsync('s/v5', { qos: 1 })
  await endClient(first.client)
  await gone(node, 'v5-expiry')

  const within = await connectWithAck(t, url, opts)
  assert.equal(within.connack.sessionPresent, true, 'resumed within the interval')
  await endClient(within.client)
  await gone(node, 'v5-expiry')

  await sleep(1400)
  const late = await connectWithAck(t, url, opts)
  assert.equal(late.connack.sessionPresent, false, 'discarded after the interval')
})

test('5: Session Expiry Interval 0 ends the session with the connection', async (t) => {
  const { url, node } = await startTestNode(t)
  const first = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'v5-zero', clean: false })
  await first.client.subscribeAsync('s/zero', { qos: 1 })
  await endClient(first.client)
  await gone(node, 'v5-zero')
  const again = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'v5-zero', clean: false })
  assert.equal(again.connack.sessionPresent, false)
})

test('5: Clean Start discards a stored session', async (t) => {
  const { url, node } = await startTestNode(t)
  const opts = { protocolVersion: 5 as const, clientId: 'v5-cs', properties: { sessionExpiryInterval: 60 } }
  const first = await connectWithAck(t, url, { ...opts, clean: false })
  await first.client.subscribeAsync('s/cs', { qos: 1 })
  await endClient(first.client)
  await gone(node, 'v5-cs')
  const fresh = await connectWithAck(t, url, { ...opts, clean: true })
  assert.equal(fresh.connack.sessionPresent, false)
  await endClient(fresh.client)
  await gone(node, 'v5-cs')
  const resumed = await connectWithAck(t, url, { ...opts, clean: false })
  // The clean start made a new session (expiry 60, no subscriptions): it exists [MQTT-3.2.2-2]
  assert.equal(resumed.connack.sessionPresent, true, 'the session the clean start made')
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'v5-cs-pub' })
  await pub.publishAsync('s/cs', 'dropped subscription', { qos: 1 })
  await sleep(300) // proves nothing arrives
  assert.deepEqual(resumed.got.map((m) => m.payload.toString()), [], 'the clean start dropped the subscription')
})

test('5: a Session Expiry Interval on DISCONNECT replaces the CONNECT one', async (t) => {
  const { url, node } = await startTestNode(t)
  const longer = { protocolVersion: 5 as const, clientId: 'v5-disc-long', clean: false, properties: { sessionExpiryInterval: 1 } }
  const a = await connectWithAck(t, url, longer)
  await a.client.subscribeAsync('s/long', { qos: 1 })
  await endClient(a.client, { properties: { sessionExpiryInterval: 60 } })
  await gone(node, 'v5-disc-long')
  await sleep(1300)
  const a2 = await connectWithAck(t, url, longer)
  assert.equal(a2.connack.sessionPresent, true, 'kept past the CONNECT interval')

  const shorter = { protocolVersion: 5 as const, clientId: 'v5-disc-short', clean: false, properties: { sessionExpiryInterval: 60 } }
  const b = await connectWithAck(t, url, shorter)
  await b.client.subscribeAsync('s/short', { qos: 1 })
  await endClient(b.client, { properties: { sessionExpiryInterval: 0 } })
  await gone(node, 'v5-disc-short')
  const b2 = await connectWithAck(t, url, shorter)
  assert.equal(b2.connack.sessionPresent, false, 'ended at DISCONNECT')
})

test('5: a non-zero expiry on DISCONNECT after CONNECT said 0 is a protocol error (0x82) and the will is sent', async (t) => {
  const { url, node, mqttPort } = await startTestNode(t)
  const watcher = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'watch-82' })
  const got = collect(watcher.client)
  await watcher.client.subscribeAsync('will/82', { qos: 1 })

  const { client } = await rawMqttConnect(t, mqttPort, {
    clientId: 'bad-disc', clean: false, will: { topic: 'will/82', payload: Buffer.from('gone'), qos: 1, retain: false }
  })
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 's/82', qos: 1 }] })
  await client.next('suback')
  client.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } })
  const disconnect = await client.next<IDisconnectPacket>('disconnect')
  assert.equal(disconnect.reasonCode, 0x82)
  await client.waitClosed()
  await waitFor(() => got.length === 1, 3000, 'will after invalid DISCONNECT')
  await gone(node, 'bad-disc')

  const again = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'bad-disc', clean: false })
  assert.equal(again.connack.sessionPresent, false, 'the session still ended with the connection')
})

test('5: limits.maxSessionExpirySeconds clamps and CONNACK reports the applied value', async (t) => {
  const { url, node } = await startTestNode(t, { 'limits.maxSessionExpirySeconds': 1 })
  const opts = { protocolVersion: 5 as const, clientId: 'v5-clamp', clean: false, properties: { sessionExpiryInterval: 3600 } }
  const first = await connectWithAck(t, url, opts)
  assert.equal(first.connack.properties?.sessionExpiryInterval, 1)
  await first.client.subscribeAsync('s/clamp', { qos: 1 })
  await endClient(first.client)
  await gone(node, 'v5-clamp')
  await sleep(1400)
  const late = await connectWithAck(t, url, opts)
  assert.equal(late.connack.sessionPresent, false, 'expired after the clamped interval')

  const within = await rawMqttConnect(t, node.port('mqtt'), { clientId: 'v5-clamp-ok', properties: { sessionExpiryInterval: 1 } })
  assert.equal((within.connack as IConnackPacket).properties?.sessionExpiryInterval, undefined, 'not echoed when unchanged')
})
