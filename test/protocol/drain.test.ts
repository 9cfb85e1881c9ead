import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawConnect } from '../helpers/raw-client.js'

test('close() drains: v5 gets DISCONNECT 0x8B, v3.1.1 is closed, CONNECTs are refused and /readyz is 503 meanwhile', async (t) => {
  const { node, url, mqttPort, httpPort } = await startTestNode(t, { 'limits.connectTimeoutMs': 1500, drainSeconds: 5 })
  const v5 = await connectClient(t, url, { protocolVersion: 5, clientId: 'drain5' })
  const v4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'drain4' })
  let reason: number | undefined
  v5.on('disconnect', (packet: IDisconnectPacket) => { reason = packet.reasonCode })
  let v4Closed = false
  v4.on('close', () => { v4Closed = true })
  // Accepted before the drain but without CONNECT yet: the listener waits for it to finish.
  const late5 = await rawConnect(t, mqttPort, 5)
  const late4 = await rawConnect(t, mqttPort, 4)
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200)

  const closing = node.close()
  await waitFor(() => reason !== undefined && v4Closed, 3000, 'clients told and closed')
  assert.equal(reason, 0x8b)
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 503)
  assert.equal((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status, 200)

  late5.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'late5' })
  late4.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'late4' })
  assert.equal((await late5.next<IConnackPacket>('connack')).reasonCode, 0x88)
  assert.equal((await late4.next<IConnackPacket>('connack')).returnCode, 3)
  await Promise.all([late5.waitClosed(), late4.waitClosed()])
  await closing
  assert.equal(node.ready, false)
})

test('close() is idempotent', async (t) => {
  const { node } = await startTestNode(t)
  await Promise.all([node.close(), node.close()])
  await node.close()
})

test('close() ends connections that never sent CONNECT once drainSeconds have passed', async (t) => {
  const { node, mqttPort } = await startTestNode(t, { 'limits.connectTimeoutMs': 30000, drainSeconds: 0.5 })
  const idle = await rawConnect(t, mqttPort)
  const started = Date.now()
  await node.close()
  assert.ok(Date.now() - started < 2000, `drained in ${Date.now() - started} ms`)
  await idle.waitClosed(1000)
})
