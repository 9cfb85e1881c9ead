import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Packet } from 'mqtt-packet'
import { connectWithAck, sleep } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

// Keep alive [MQTT-3.1.2-22/24, §3.2.2.3.14]: limits.maxKeepAlive caps what an MQTT 5 client gets
// (CONNACK Server Keep Alive); a 3.1.1 client has no such field, so its own value is accepted.
// Silence for 1.5 × keep alive closes the connection; a v5 client is told with DISCONNECT 0x8D.

interface Connack { returnCode?: number, reasonCode?: number, properties?: { serverKeepAlive?: number } }

test('MQTT 5: keep alive 0 or above the maximum gets Server Keep Alive and is held to it', async (t) => {
  const { url, mqttPort } = await startTestNode(t, { 'limits.maxKeepAlive': 1 })
  const started = Date.now()
  const { client: zero, connack: ack0 } = await rawMqttConnect(t, mqttPort, { clientId: 'ka-zero', keepalive: 0 })
  const { client: long, connack: ackLong } = await rawMqttConnect(t, mqttPort, { clientId: 'ka-long', keepalive: 30 })
  const { client: within, connack: ackWithin } = await rawMqttConnect(t, mqttPort, { clientId: 'ka-within', keepalive: 1 })
  assert.equal((ack0 as Connack).properties?.serverKeepAlive, 1)
  assert.equal((ackLong as Connack).properties?.serverKeepAlive, 1)
  assert.equal((ackWithin as Connack).properties?.serverKeepAlive, undefined, 'no override when within the maximum')

  // mqtt.js adopts the Server Keep Alive and pings in time, so it stays connected
  const { client: polite, connack } = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'ka-mqttjs', keepalive: 60 })
  assert.equal(connack.properties?.serverKeepAlive, 1)

  for (const silent of [zero, long, within]) {
    const disconnect = await silent.next('disconnect', 4000) as { reasonCode?: number }
    assert.equal(disconnect.reasonCode, 0x8D)
    await silent.waitClosed()
  }
  const elapsed = Date.now() - started
  assert.ok(elapsed >= 1400 && elapsed < 3500, `closed after about 1.5 s (${elapsed} ms)`)
  assert.equal(polite.connected, true)
})

test('MQTT 3.1.1: keep alive 0 or above the maximum is accepted and the client\'s own value applies', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.maxKeepAlive': 1 })
  const { client: zero, connack: ack0 } = await rawMqttConnect(t, mqttPort, { clientId: 'ka4-zero', protocolVersion: 4, keepalive: 0 })
  const { client: long, connack: ackLong } = await rawMqttConnect(t, mqttPort, { clientId: 'ka4-long', protocolVersion: 4, keepalive: 30 })
  const { client: short, connack: ackShort } = await rawMqttConnect(t, mqttPort, { clientId: 'ka4-short', protocolVersion: 4, keepalive: 1 })
  for (const ack of [ack0, ackLong, ackShort]) assert.equal((ack as Connack).returnCode, 0)

  // the silent client with keep alive 1 is closed after 1.5 s, without a DISCONNECT (3.1.1 has none)
  await short.waitClosed(4000)
  assert.equal(short.received.some((p: Packet) => p.cmd === 'disconnect'), false)
  await sleep(300)
  assert.equal(zero.closed, false, 'keep alive 0: never timed out')
  assert.equal(long.closed, false, 'keep alive 30: still within its own keep alive')
  zero.send({ cmd: 'pingreq' } as Packet)
  await zero.next('pingresp')
})
