import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { after, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { WebSocket } from 'ws'
import { makeTestPki } from '../helpers/certs.js'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'

const pki = makeTestPki(undefined)
after(() => rmSync(pki.dir, { recursive: true, force: true }))

/** Opens a raw WebSocket with the given sub-protocols; resolves on open or with the HTTP refusal. */
function openWs (url: string, protocols: string[]): Promise<{ ws?: WebSocket, status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols)
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => { resolve({ status: res.statusCode }); res.resume(); ws.terminate() })
    ws.once('error', reject)
  })
}

function httpStatus (port: number, path: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => { res.resume(); resolve(res.statusCode) }).on('error', reject).end()
  })
}

const connectPacket = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'raw-ws' })

test('MQTT over WebSocket: v4 and v5 clients round-trip with TCP clients both ways', async (t) => {
  const { node, url, logs } = await startTestNode(t)
  const wsUrl = `ws://127.0.0.1:${node.port('ws')}/mqtt`
  const tcpSub = await connectClient(t, url, { protocolVersion: 5, clientId: 'tcp-sub' })
  const tcpGot = collect(tcpSub)
  await tcpSub.subscribeAsync('from-ws/#', { qos: 1 })
  for (const protocolVersion of [4, 5] as const) {
    const wsClient = await connectClient(t, wsUrl, { protocolVersion, clientId: `ws-${protocolVersion}` })
    const wsGot = collect(wsClient)
    await wsClient.subscribeAsync(`to-ws/${protocolVersion}`, { qos: 1 })
    await wsClient.publishAsync(`from-ws/${protocolVersion}`, Buffer.from([0, 1, 2, 255]), { qos: 1 })
    await tcpSub.publishAsync(`to-ws/${protocolVersion}`, 'hello ws', { qos: 1 })
    await waitFor(() => wsGot.length === 1, 5000, 'TCP → WS message')
    assert.equal(wsGot[0]?.payload.toString(), 'hello ws')
  }
  await waitFor(() => tcpGot.length === 2, 5000, 'WS → TCP messages')
  assert.deepEqual(tcpGot.map((m) => [m.topic, [...m.payload]]).sort(), [['from-ws/4', [0, 1, 2, 255]], ['from-ws/5', [0, 1, 2, 255]]])
  const line = logs.lines.find((l) => l.msg === 'client connected' && l.clientId === 'ws-5')
  assert.equal(line?.listener, 'ws')
  assert.equal(line?.remoteAddress, '127.0.0.1')
})

test('sub-protocols mqtt and mqttv3.1 are accepted, others and other paths refused', async (t) => {
  const { node } = await startTestNode(t)
  const port = node.port('ws')
  for (const protocol of ['mqtt', 'mqttv3.1']) {
    const { ws } = await openWs(`ws://127.0.0.1:${port}/mqtt`, ['chat', protocol])
    assert.equal(ws?.protocol, protocol)
    ws?.terminate()
  }
  assert.equal((await openWs(`ws://127.0.0.1:${port}/mqtt`, ['chat'])).status, 400)
  assert.equal((await openWs(`ws://127.0.0.1:${port}/other`, ['mqtt'])).status, 404)
  assert.equal(await httpStatus(port, '/other'), 404)
  assert.equal(await httpStatus(port, '/mqtt'), 426)
})

test('a text frame closes the connection with 1003 and its bytes never reach the broker', async (t) => {
  const { node, logs } = await startTestNode(t)
  const { ws } = await openWs(`ws://127.0.0.1:${node.port('ws')}/mqtt`, ['mqtt'])
  assert.ok(ws !== undefined)
  const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)))
  ws.send(connectPacket.toString('latin1'))
  assert.equal(await code, 1003)
  assert.equal(logs.lines.some((l) => l.msg === 'client connected' && l.clientId === 'raw-ws'), false)
})

test('a client closing in the middle of a frame or of a packet leaves the node serving', async (t) => {
  const { node, url } = await startTestNode(t)
  const port = node.port('ws')
  // Mid-packet: half a CONNECT in a complete binary frame, then a hard close.
  const { ws } = await openWs(`ws://127.0.0.1:${port}/mqtt`, ['mqtt'])
  assert.ok(ws !== undefined)
  ws.send(connectPacket.subarray(0, 5))
  ws.terminate()
  // Mid-frame: a masked binary frame header announcing 100 bytes, 10 of them sent, then a close.
  const socket = connect({ host: '127.0.0.1', port })
  t.after(() => { socket.destroy() })
  socket.on('error', () => {})
  socket.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n')
  let response = ''
  socket.on('data', (d: Buffer) => { response += d.toString('latin1') })
  await waitFor(() => response.includes('\r\n\r\n'), 5000, '101 response')
  assert.match(response, /^HTTP\/1.1 101/)
  socket.write(Buffer.concat([Buffer.from([0x82, 0x80 | 100, 1, 2, 3, 4]), Buffer.alloc(10)]))
  socket.destroy()
  const client = await connectClient(t, `ws://127.0.0.1:${port}/mqtt`, { clientId: 'after' })
  await client.publishAsync('still/alive', 'yes', { qos: 1 })
  const tcp = await connectClient(t, url, { clientId: 'tcp-after' })
  assert.equal(tcp.connected, true)
})

test('WSS serves MQTT over TLS WebSocket with the TLS certificate', async (t) => {
  const { node, url } = await startTestNode(t, { 'tls.certFile': pki.certFile, 'tls.keyFile': pki.keyFile })
  const sub = await connectClient(t, url, { clientId: 'tcp-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('wss/#', { qos: 1 })
  const wssUrl = `wss://127.0.0.1:${node.port('wss')}/mqtt`
  const pub = await connectClient(t, wssUrl, { protocolVersion: 5, clientId: 'wss-pub', ca: pki.ca })
  await pub.publishAsync('wss/x', 'over wss', { qos: 1 })
  await waitFor(() => got.length === 1)
  assert.equal(got[0]?.payload.toString(), 'over wss')
  await assert.rejects(connectClient(t, wssUrl, { clientId: 'untrusting', ca: pki.otherCa }))
})

test('ws.enabled: false starts neither WS nor WSS', async (t) => {
  const { node } = await startTestNode(t, { 'ws.enabled': false, 'tls.certFile': pki.certFile, 'tls.keyFile': pki.keyFile })
  assert.throws(() => node.port('ws'), /no listener named ws/)
  assert.throws(() => node.port('wss'), /no listener named wss/)
  assert.ok(node.port('mqtts') > 0)
})

test('bytes of MQTT over WebSocket count in starling_bytes_{received,sent}_total (the HTTP socket under the stream)', async (t) => {
  const { node, httpPort } = await startTestNode(t)
  const wsClient = await connectClient(t, `ws://127.0.0.1:${node.port('ws')}/mqtt`, { protocolVersion: 5, clientId: 'ws-bytes' })
  const got = collect(wsClient)
  await wsClient.subscribeAsync('ws-bytes/t', { qos: 1 })
  const before = await scrape(httpPort)
  await wsClient.publishAsync('ws-bytes/t', Buffer.alloc(4000, 1), { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the message back over WS')
  const after = await scrape(httpPort)
  const delta = (name: string): number => value(after, name) - value(before, name)
  assert.ok(delta('starling_bytes_received_total') >= 4000, `received ${delta('starling_bytes_received_total')}`)
  assert.ok(delta('starling_bytes_sent_total') >= 4000, `sent ${delta('starling_bytes_sent_total')}`)
})
