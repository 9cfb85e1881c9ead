import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, refusedCode } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'

// limits.maxWillPayloadBytes: a CONNECT whose will payload is larger is refused with CONNACK 0x97
// Quota exceeded (v5) / 3 (3.1.1, which has no quota code). Not 0x95 Packet too large: the
// CONNECT itself is within limits.maxPacketSize; the will is what an administrative limit refuses.

test('a will payload over limits.maxWillPayloadBytes: CONNACK 0x97 (v5) / 3 (3.1.1); at the limit it connects', async (t) => {
  const { url, httpPort } = await startTestNode(t, { 'limits.maxWillPayloadBytes': 1024 })
  const will = (size: number): { topic: string, payload: Buffer, qos: 0, retain: false } => ({ topic: 'will/t', payload: Buffer.alloc(size, 1), qos: 0, retain: false })
  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'big-will-5', will: will(1025) }), 0x97)
  assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: 'big-will-4', will: will(4096) }), 3)
  const ok = await connectClient(t, url, { protocolVersion: 5, clientId: 'fine-will', will: will(1024) })
  assert.equal(ok.connected, true)
  const samples = await scrape(httpPort)
  assert.equal(value(samples, 'starling_limit_hits_total', { limit: 'will_size' }), 2)
  assert.equal(value(samples, 'starling_connects_refused_total', { reason: 'will_too_large' }), 2)
})
