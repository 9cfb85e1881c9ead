import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { isStarlingError } from '../../src/errors.js'
import { makeTestPki } from '../helpers/certs.js'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

const pki = makeTestPki(undefined)
after(() => rmSync(pki.dir, { recursive: true, force: true }))

const tlsOverrides = { 'tls.certFile': pki.certFile, 'tls.keyFile': pki.keyFile }

test('MQTT over TLS: v4 and v5 clients that trust the CA connect, and messages cross to TCP', async (t) => {
  const { node, url, logs } = await startTestNode(t, tlsOverrides)
  const tlsUrl = `mqtts://127.0.0.1:${node.port('mqtts')}`
  const sub = await connectClient(t, url, { protocolVersion: 4, clientId: 'tcp-sub' })
  const got = collect(sub)
  await sub.subscribeAsync('tls/#', { qos: 1 })
  for (const protocolVersion of [4, 5] as const) {
    const pub = await connectClient(t, tlsUrl, { protocolVersion, clientId: `tls-pub-${protocolVersion}`, ca: pki.ca })
    await pub.publishAsync(`tls/v${protocolVersion}`, 'secret', { qos: 1 })
  }
  await waitFor(() => got.length === 2)
  assert.deepEqual(got.map((m) => m.topic).sort(), ['tls/v4', 'tls/v5'])
  const line = logs.lines.find((l) => l.msg === 'client connected' && l.clientId === 'tls-pub-5')
  assert.equal(line?.listener, 'mqtts')
  assert.equal(line?.remoteAddress, '127.0.0.1')
})

test('a client that does not trust the server certificate fails the handshake', async (t) => {
  const { node } = await startTestNode(t, tlsOverrides)
  await assert.rejects(connectClient(t, `mqtts://127.0.0.1:${node.port('mqtts')}`, { ca: pki.otherCa }),
    (err: NodeJS.ErrnoException) => /certificate/i.test(err.message))
})

test('with tls.caFile, only clients with a certificate signed by that CA are served', async (t) => {
  const { node } = await startTestNode(t, { ...tlsOverrides, 'tls.caFile': pki.caFile })
  const tlsUrl = `mqtts://127.0.0.1:${node.port('mqtts')}`
  await assert.rejects(connectClient(t, tlsUrl, { ca: pki.ca, clientId: 'no-cert' }))
  await assert.rejects(connectClient(t, tlsUrl, { ca: pki.ca, clientId: 'stranger', cert: pki.otherCaCert, key: pki.otherCaKey }))
  const client = await connectClient(t, tlsUrl, { ca: pki.ca, clientId: 'with-cert', cert: pki.clientCert, key: pki.clientKey, protocolVersion: 5 })
  assert.equal(client.connected, true)
})

test('without certFile and keyFile no TLS listener starts', async (t) => {
  const { node } = await startTestNode(t)
  assert.throws(() => node.port('mqtts'), /no listener named mqtts/)
  assert.throws(() => node.port('wss'), /no listener named wss/)
})

test('unreadable or invalid TLS files fail the start with STARLING_ERR_TLS_FILES naming the field', async (t) => {
  const garbage = join(pki.dir, 'garbage.pem')
  writeFileSync(garbage, '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n')
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ 'tls.certFile': join(pki.dir, 'missing.pem'), 'tls.keyFile': pki.keyFile }, 'tls.certFile'],
    [{ 'tls.certFile': pki.certFile, 'tls.keyFile': garbage }, 'tls.keyFile'],
    [{ 'tls.certFile': garbage, 'tls.keyFile': pki.keyFile }, 'tls.certFile'],
    [{ ...tlsOverrides, 'tls.caFile': garbage }, 'tls.caFile'],
    [{ 'tls.certFile': pki.certFile }, 'tls.keyFile'],
    [{ 'tls.certFile': pki.certFile, 'tls.keyFile': join(pki.dir, 'client.key') }, 'tls.certFile and tls.keyFile']
  ]
  for (const [overrides, field] of cases) {
    await assert.rejects(startTestNode(t, overrides), (err: unknown) => {
      assert.ok(isStarlingError(err, 'STARLING_ERR_TLS_FILES'), String(err))
      assert.ok(err.message.includes(field), err.message)
      assert.ok(!err.message.includes('c2VjcmV0'), 'the key material is not in the message')
      return true
    })
  }
})
