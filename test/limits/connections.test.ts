import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IConnackPacket } from 'mqtt-packet'
import { connectClient, refusedCode, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawConnect } from '../helpers/raw-client.js'

// Half-open connections count inside limits.maxConnections: sockets that never send CONNECT (or,
// with mqtt.proxyProtocol, their PROXY header) hold a slot as a connection would, first come first
// served; beyond maxConnections plus headroom a socket is closed at accept.

test('idle sockets without CONNECT take slots: a later client gets CONNACK 0x97 until they go', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, { 'limits.maxConnections': 3, 'limits.connectTimeoutMs': 60000 })
  const idle = await Promise.all([0, 1, 2].map(async () => await rawConnect(t, mqttPort)))
  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'after-idle' }), 0x97)
  assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: 'after-idle-4' }), 3)
  idle[0]!.destroy()
  await waitFor(() => idle[0]!.closed, 2000, 'one idle socket closed')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const client = await connectClient(t, url, { protocolVersion: 5, clientId: 'one-slot-free' })
  assert.equal(client.connected, true)
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'connections' }), 2)
})

test('with PROXY protocol, sockets still waiting for their header count too', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.maxConnections': 2, 'limits.connectTimeoutMs': 60000, 'mqtt.proxyProtocol': true })
  await Promise.all([0, 1].map(async () => await rawConnect(t, mqttPort)))
  // A client behind a PROXY v1 header.
  const late = await rawConnect(t, mqttPort)
  late.sendBytes(Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 5000 1883\r\n'))
  late.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'behind-lb' } as never)
  const connack = await late.next<IConnackPacket>('connack')
  assert.equal(connack.reasonCode, 0x97)
})

test('a socket beyond maxConnections plus headroom is closed at accept, counted', async (t) => {
  // maxConnections 1: headroom 64, so the 66th open socket is closed at once.
  const { mqttPort, httpPort } = await startTestNode(t, { 'limits.maxConnections': 1, 'limits.connectTimeoutMs': 60000 })
  const sockets = []
  for (let i = 0; i < 65; i++) sockets.push(await rawConnect(t, mqttPort))
  const extra = await rawConnect(t, mqttPort)
  await extra.waitClosed(2000)
  assert.equal(sockets.filter((s) => s.closed).length, 0, 'the earlier sockets stay open')
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'sockets' }), 1)
})
