import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import mqttPacket, { type IConnackPacket } from 'mqtt-packet'
import { loadConfig } from '../../src/config/load.js'
import { StarlingError } from '../../src/errors.js'
import { TrustedProxies } from '../../src/listeners/trusted-proxies.js'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startHaproxy } from '../helpers/haproxy.js'
import { scrape, value } from '../helpers/metrics.js'
import { connectedLine, startTestNode, type TestNode } from '../helpers/node.js'
import { RawClient } from '../helpers/raw-client.js'

function connectBytes (clientId: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId })
}

/** A TCP connection to the node from `localAddress` (any 127.0.0.0/8 address works on loopback, or ::1). */
async function from (t: { after: (fn: () => void) => void }, node: TestNode, localAddress: string): Promise<Socket> {
  const host = localAddress.includes(':') ? '::1' : '127.0.0.1'
  const socket = connect({ host, port: node.mqttPort, localAddress, noDelay: true })
  t.after(() => { socket.destroy() })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

test('a PROXY header from a trusted source is used; from any other source the connection is closed unread, counted and logged once', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true, 'mqtt.proxyProtocolTrustedCidrs': ['127.0.0.1/32'] })

  const trusted = await from(t, node, '127.0.0.1')
  const ok = new RawClient(trusted, 4)
  trusted.write(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 4242 1883\r\n'), connectBytes('behind-lb')]))
  assert.equal((await ok.next<IConnackPacket>('connack')).returnCode, 0)
  assert.equal(connectedLine(node, 'behind-lb')?.remoteAddress, '203.0.113.7')

  for (let i = 0; i < 3; i++) {
    const forged = await from(t, node, '127.0.0.2')
    const refused = new RawClient(forged, 4)
    forged.write(Buffer.concat([Buffer.from('PROXY TCP4 198.51.100.1 10.0.0.1 4242 1883\r\n'), connectBytes(`forger-${i}`)]))
    await refused.waitClosed()
    assert.equal(refused.received.length, 0, 'no CONNACK')
  }
  assert.equal(connectedLine(node, 'forger-0'), undefined)
  const samples = await scrape(node.httpPort)
  assert.equal(value(samples, 'starling_proxy_header_errors_total', { listener: 'mqtt', reason: 'untrusted' }), 3)
  assert.equal(value(samples, 'starling_faults_total', { kind: 'proxy_untrusted_source' }), 3)
  const logged = node.logs.lines.filter((l) => l.fault === 'proxy_untrusted_source')
  assert.equal(logged.length, 1, 'rate-limited: one line for three refusals')
  assert.equal(logged[0]?.remoteAddress, '127.0.0.2')

  // the trusted connection was not disturbed
  assert.equal(ok.closed, false)
})

test('IPv6: a source in an IPv6 CIDR is trusted, the same source is refused when only IPv4 is listed', async (t) => {
  const v6 = await startTestNode(t, { 'mqtt.host': '::1', 'mqtt.proxyProtocol': true, 'mqtt.proxyProtocolTrustedCidrs': ['::1/128'] })
  const socket = await from(t, v6, '::1')
  const client = new RawClient(socket, 4)
  socket.write(Buffer.concat([Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4242 1883\r\n'), connectBytes('v6-client')]))
  assert.equal((await client.next<IConnackPacket>('connack')).returnCode, 0)
  assert.equal(connectedLine(v6, 'v6-client')?.remoteAddress, '2001:db8::7')

  const v4only = await startTestNode(t, { 'mqtt.host': '::1', 'mqtt.proxyProtocol': true, 'mqtt.proxyProtocolTrustedCidrs': ['127.0.0.0/8'] })
  const other = await from(t, v4only, '::1')
  const refused = new RawClient(other, 4)
  other.write(Buffer.concat([Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4242 1883\r\n'), connectBytes('v6-refused')]))
  await refused.waitClosed()
  assert.equal(value(await scrape(v4only.httpPort), 'starling_proxy_header_errors_total', { listener: 'mqtt', reason: 'untrusted' }), 1)
})

test('the default trusts loopback only: HAProxy on 127.0.0.1 keeps working', async (t) => {
  const node = await startTestNode(t, { 'mqtt.proxyProtocol': true })
  const [frontend] = await startHaproxy(t, [node.mqttPort])
  const url = `mqtt://127.0.0.1:${String(frontend)}`
  const sub = await connectClient(t, url, { clientId: 'via-haproxy-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('lb/t', { qos: 1 })
  const pub = await connectClient(t, url, { clientId: 'via-haproxy-pub' })
  await pub.publishAsync('lb/t', 'through the load balancer', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the message through HAProxy')
  assert.equal(got[0]?.payload.toString(), 'through the load balancer')
})

test('config: CIDRs are validated, and an empty list with PROXY protocol on is refused at start', () => {
  assert.throws(() => loadConfig({ overrides: { 'mqtt.proxyProtocolTrustedCidrs': ['10.0.0.0/33'] } }), (err: unknown) => err instanceof StarlingError && /proxyProtocolTrustedCidrs/.test(err.message))
  assert.throws(() => loadConfig({ overrides: { 'mqtt.proxyProtocolTrustedCidrs': ['not-an-address'] } }), StarlingError)
  assert.throws(() => loadConfig({ overrides: { 'mqtt.proxyProtocol': true, 'mqtt.proxyProtocolTrustedCidrs': [] } }), (err: unknown) => err instanceof StarlingError && /empty/.test(err.message))
  const fromEnv = loadConfig({ env: { STARLING_MQTT_PROXY_PROTOCOL_TRUSTED_CIDRS: '["10.1.0.0/16","fd00::/8"]' } })
  assert.deepEqual(fromEnv.mqtt.proxyProtocolTrustedCidrs, ['10.1.0.0/16', 'fd00::/8'])
  assert.deepEqual(loadConfig({}).mqtt.proxyProtocolTrustedCidrs, ['127.0.0.0/8', '::1/128'])
})

test('trusted sources: IPv4, IPv6, IPv4-mapped IPv6 peers and bare addresses', () => {
  const trusted = new TrustedProxies(['10.0.0.0/8', 'fd00::/8', '192.0.2.5'])
  assert.equal(trusted.trusts('10.200.3.4'), true)
  assert.equal(trusted.trusts('::ffff:10.200.3.4'), true, 'a dual-stack listener reports IPv4 peers mapped')
  assert.equal(trusted.trusts('11.0.0.1'), false)
  assert.equal(trusted.trusts('fd12:3456::1'), true)
  assert.equal(trusted.trusts('fe80::1'), false)
  assert.equal(trusted.trusts('192.0.2.5'), true)
  assert.equal(trusted.trusts('192.0.2.6'), false)
  assert.equal(trusted.trusts(undefined), false)
})
