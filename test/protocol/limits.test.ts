import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { connectClient, connectWithAck, refusedCode, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawConnect } from '../helpers/raw-client.js'

async function metricsText (httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
}

test('limits.maxConnections: CONNACK 0x97 (v5) / 3 (v3.1.1), counted and logged; a takeover still fits', async (t) => {
  const { url, httpPort, logs } = await startTestNode(t, { 'limits.maxConnections': 2 })
  await connectClient(t, url, { protocolVersion: 5, clientId: 'one' })
  await connectClient(t, url, { protocolVersion: 4, clientId: 'two' })

  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'three' }), 0x97)
  assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: 'four' }), 3)

  assert.match(await metricsText(httpPort), /starling_connects_refused_total\{reason="max_connections"[^}]*\} 2/)
  const line = logs.find(/connect refused/)
  assert.ok(line, 'a log line for the refusal')
  assert.equal(line.code, 'STARLING_ERR_MAX_CONNECTIONS')

  const again = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'one' })
  assert.equal(again.connack.reasonCode, 0, 'replacing a connection does not need a new slot')
})

test('limits.maxConnections holds for a burst of simultaneous CONNECTs', async (t) => {
  const { url } = await startTestNode(t, { 'limits.maxConnections': 2 })
  const clients = Array.from({ length: 6 }, (_, i) => mqtt.connect(url, { protocolVersion: 5, clientId: `burst-${i}`, reconnectPeriod: 0, connectTimeout: 5000 }))
  t.after(() => Promise.all(clients.map((c) => new Promise<void>((resolve) => c.end(true, {}, () => resolve())))))
  const outcomes = await Promise.all(clients.map((c) => new Promise<string>((resolve) => {
    c.once('connect', () => resolve('ok'))
    c.once('error', (err: Error & { code?: number }) => resolve(String(err.code)))
    c.once('close', () => resolve('closed'))
  })))
  assert.equal(outcomes.filter((o) => o === 'ok').length, 2, outcomes.join(','))
  assert.equal(outcomes.filter((o) => o === String(0x97)).length, 4, outcomes.join(','))
})

test('limits.connectTimeoutMs: a socket that sends no CONNECT is closed after it', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.connectTimeoutMs': 300 })
  const started = Date.now()
  const idle = await rawConnect(t, mqttPort)
  await waitFor(() => idle.closed, 3000, 'idle socket closed')
  const elapsed = Date.now() - started
  assert.ok(elapsed >= 250 && elapsed < 2000, `closed after ${elapsed} ms`)
  assert.equal(idle.received.length, 0, 'nothing is sent to it')
})
