import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { get } from 'node:http'
import { connect, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import mqttPacket, { type IConnackPacket } from 'mqtt-packet'
import { makeTestPki } from '../helpers/certs.js'
import { collect, connectClient, sleep, waitFor, type MqttClient } from '../helpers/clients.js'
import { startHaproxy } from '../helpers/haproxy.js'
import { connectedLine, startTestNode, type TestNode } from '../helpers/node.js'
import { RawClient } from '../helpers/raw-client.js'

const pki = makeTestPki(undefined)
after(() => rmSync(pki.dir, { recursive: true, force: true }))

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** v2 PROXY header for TCP over IPv4, with a TLV (PP2_TYPE_AUTHORITY) to be skipped. */
function v2Header (src: string, srcPort: number, command = 1): Buffer {
  const tlv = Buffer.concat([Buffer.from([0x02, 0x00, 0x09]), Buffer.from('broker.io')])
  const block = Buffer.alloc(12)
  Buffer.from(src.split('.').map(Number)).copy(block, 0)
  Buffer.from([127, 0, 0, 1]).copy(block, 4)
  block.writeUInt16BE(srcPort, 8)
  block.writeUInt16BE(1883, 10)
  const head = Buffer.from([0x20 | command, 0x11, 0, 0])
  head.writeUInt16BE(block.length + tlv.length, 2)
  return Buffer.concat([SIG, head, block, tlv])
}

function connectBytes (clientId: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId })
}

async function tcp (t: { after: (fn: () => void) => void }, port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true })
  t.after(() => { socket.destroy() })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

async function proxyErrors (node: TestNode, reason: string): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    get({ host: '127.0.0.1', port: node.httpPort, path: '/metrics', agent: false }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
  const line = text.split('\n').find((l) => l.startsWith('starling_proxy_header_errors_total{') && l.includes(`reason="${reason}"`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

test('v1 header in the same segment as CONNECT: the broker gets the CONNECT intact and logs the real client', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true })
  const socket = await tcp(t, node.mqttPort)
  const client = new RawClient(socket, 4)
  socket.write(Buffer.concat([Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n'), connectBytes('v1-client')]))
  assert.equal((await client.next<IConnackPacket>('connack')).returnCode, 0)
  const line = connectedLine(node, 'v1-client')
  assert.equal(line?.remoteAddress, '1.2.3.4')
  assert.equal(line?.remotePort, 1111)
  assert.equal(line?.listener, 'mqtt')
})

test('v2 header with TLVs split across many TCP segments', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true })
  const socket = await tcp(t, node.mqttPort)
  const client = new RawClient(socket, 4)
  const bytes = Buffer.concat([v2Header('10.9.8.7', 40001), connectBytes('v2-client')])
  for (let i = 0; i < bytes.length; i += 7) {
    socket.write(bytes.subarray(i, i + 7))
    await sleep(2) // separate segments, not a wait for an outcome
  }
  assert.equal((await client.next<IConnackPacket>('connack')).returnCode, 0)
  assert.equal(connectedLine(node, 'v2-client')?.remoteAddress, '10.9.8.7')
  assert.equal(connectedLine(node, 'v2-client')?.remotePort, 40001)
})

test('v2 LOCAL (a proxy health check) is served with the connection\'s own address', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true })
  const socket = await tcp(t, node.mqttPort)
  const client = new RawClient(socket, 4)
  socket.write(Buffer.concat([v2Header('9.9.9.9', 9, 0), connectBytes('local')]))
  assert.equal((await client.next<IConnackPacket>('connack')).returnCode, 0)
  assert.equal(connectedLine(node, 'local')?.remoteAddress, '127.0.0.1')
  assert.equal(connectedLine(node, 'local')?.remotePort, socket.localPort)
})

test('a connection without a valid header, or whose header is late, is closed and counted', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true, 'limits.connectTimeoutMs': 300 })
  await assert.rejects(connectClient(t, node.url, { clientId: 'no-header' }))
  await waitFor(() => node.logs.lines.some((l) => l.reason === 'invalid'), 2000, 'invalid header log')
  assert.equal(await proxyErrors(node, 'invalid'), 1)
  assert.equal(connectedLine(node, 'no-header'), undefined)

  const slow = await tcp(t, node.mqttPort)
  const raw = new RawClient(slow, 4)
  const started = Date.now()
  slow.write('PROXY TCP4 1.2.3.4')
  await raw.waitClosed(3000)
  assert.ok(Date.now() - started >= 250, 'closed by the header timeout')
  assert.equal(await proxyErrors(node, 'timeout'), 1)
})

test('TLS with PROXY: the header precedes the handshake and bytes after it reach TLS intact', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true, 'tls.certFile': pki.certFile, 'tls.keyFile': pki.keyFile })
  const socket = await tcp(t, node.node.port('mqtts'))
  // Corked: the header and the ClientHello leave in one segment.
  socket.cork()
  socket.write(v2Header('192.0.2.10', 50000))
  const secure = tlsConnect({ socket, ca: pki.ca, servername: 'localhost' })
  process.nextTick(() => socket.uncork())
  await new Promise((resolve, reject) => { secure.once('secureConnect', resolve); secure.once('error', reject) })
  const client = new RawClient(secure, 4)
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: 'tls-proxied' })
  assert.equal((await client.next<IConnackPacket>('connack')).returnCode, 0)
  const line = connectedLine(node, 'tls-proxied')
  assert.equal(line?.listener, 'mqtts')
  assert.equal(line?.remoteAddress, '192.0.2.10')
  assert.equal(line?.remotePort, 50000)
})

test('through a real HAProxy with send-proxy-v2 (TCP and TLS), the node records the client as HAProxy saw it', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true, 'tls.certFile': pki.certFile, 'tls.keyFile': pki.keyFile })
  const [plain, secure] = await startHaproxy(t, [node.mqttPort, node.node.port('mqtts')])
  const sub = await connectClient(t, `mqtt://127.0.0.1:${plain}`, { protocolVersion: 5, clientId: 'ha-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('ha/#', { qos: 1 })
  const pub = await connectClient(t, `mqtts://127.0.0.1:${secure}`, { protocolVersion: 4, clientId: 'ha-pub', ca: pki.ca })
  await pub.publishAsync('ha/x', 'through haproxy', { qos: 1 })
  await waitFor(() => got.length === 1)
  assert.equal(got[0]?.payload.toString(), 'through haproxy')
  for (const [client, id, listener] of [[sub, 'ha-sub', 'mqtt'], [pub, 'ha-pub', 'mqtts']] as Array<[MqttClient, string, string]>) {
    const line = connectedLine(node, id)
    assert.equal(line?.listener, listener)
    assert.equal(line?.remoteAddress, '127.0.0.1')
    // The client's own port, as HAProxy accepted it, not HAProxy's outgoing connection.
    assert.equal(line?.remotePort, (client.stream as Socket).localPort)
  }
})
