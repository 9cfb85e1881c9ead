import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startHookNode, startWorker, type PubSubMessage } from '../helpers/hooks.js'

/**
 * On-publish hooks end to end: an embedded node whose default broker has a hook, a Worker
 * written as Cloudflare's guide writes one (WebCrypto signature check) on 127.0.0.1, real
 * mqtt.js publishers and subscribers.
 */

/** Publishes and resolves with the PUBACK / PUBREC reason code (mqtt.js fails the publish with it when ≥ 0x80). */
function publishCode (client: MqttClient, topic: string, payload: string | Buffer, options: { qos: 1 | 2, properties?: Record<string, unknown> }): Promise<number> {
  return new Promise((resolve) => {
    client.publish(topic, payload, options, (err) => resolve(err ? Number((err as { code?: number }).code) : 0))
  })
}

/** Publishes `n` QoS 1 messages in order, at most `window` unacknowledged at once. */
async function publishWindowed (client: MqttClient, n: number, window: number, message: (i: number) => [string, string]): Promise<void> {
  let inFlight = 0
  let next = 0
  await new Promise<void>((resolve) => {
    const fill = (): void => {
      while (inFlight < window && next < n) {
        const [topic, payload] = message(next++)
        inFlight++
        client.publish(topic, payload, { qos: 1, properties: { payloadFormatIndicator: true } }, () => { inFlight--; if (next === n && inFlight === 0) resolve(); else fill() })
      }
    }
    fill()
  })
}

const EXPECTED_KEYS = ['broker', 'clientId', 'contentType', 'mid', 'namespace', 'payload', 'payloadFormatIndicator', 'receivedAt', 'topic']

test('contract: a Cloudflare-style Worker verifies the signature (hex key and JWKS), reads the documented message shape and mutates the payload', async (t) => {
  let publicKey = ''
  const worker = await startWorker(t, () => publicKey, (messages) => {
    // The guide's example: replace UTF-8 payloads.
    for (const msg of messages) if (msg.payloadFormatIndicator === 1) msg.payload = `replaced: ${msg.payload}`
    return messages
  })
  const hook = await startHookNode(t, { url: worker.url })
  publicKey = hook.broker().publicKey
  // The JWKS has the same key (base64url `x`).
  const jwks = await hook.identity.tokens.publicKeys(hook.broker())
  assert.equal(Buffer.from(jwks.keys.at(-1)?.x ?? '', 'base64url').toString('hex'), publicKey)

  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'pub' })
  const before = Math.floor(Date.now() / 1000)
  assert.equal(await publishCode(pub, 'sensors/1', 'hello', { qos: 1, properties: { payloadFormatIndicator: true, contentType: 'text/plain' } }), 0)
  await waitFor(() => got.length === 1, 5000, 'mutated message')
  assert.equal(got[0]?.payload.toString(), 'replaced: hello')
  assert.equal(got[0]?.topic, 'sensors/1')
  assert.equal(worker.invalid, 0)

  const [message] = worker.batches[0] as PubSubMessage[]
  assert.deepEqual(Object.keys(message as object).sort(), EXPECTED_KEYS)
  assert.equal(message?.broker, 'default')
  assert.equal(message?.namespace, 'default')
  assert.equal(message?.clientId, 'pub')
  assert.equal(message?.topic, 'sensors/1')
  assert.equal(message?.contentType, 'text/plain')
  assert.equal(message?.payloadFormatIndicator, 1)
  assert.equal(message?.payload, 'hello')
  assert.ok(Number.isInteger(message?.receivedAt) && (message?.receivedAt ?? 0) >= before && (message?.receivedAt ?? 0) <= before + 5, 'receivedAt in seconds')

  // Binary payload: base64 with its marker; returned unchanged, delivered byte for byte.
  const bytes = Buffer.from([0, 255, 1, 128, 10])
  assert.equal(await publishCode(pub, 'bin', bytes, { qos: 1 }), 0)
  await waitFor(() => got.length === 2, 5000, 'binary message')
  assert.deepEqual(got[1]?.payload, bytes)
  const binary = worker.batches.at(-1)?.[0]
  assert.equal(binary?.payloadFormatIndicator, 0)
  assert.equal(binary?.payloadEncoding, 'base64')
  assert.equal(binary?.payload, bytes.toString('base64'))
  assert.equal(binary?.contentType, '')

  // Another key (not the broker's): the Worker refuses the request (403), the publisher gets 0x87.
  publicKey = 'ab'.repeat(32)
  assert.equal(await publishCode(pub, 'sensors/2', 'nope', { qos: 1 }), 0x87)
  assert.equal(worker.invalid, 1)
  await sleep(100)
  assert.equal(got.length, 2)
})

test('a tenant broker with tokens: its own hook and key; topic and client id as the client knows them, the token\'s jti', async (t) => {
  let publicKey = ''
  const worker = await startWorker(t, () => publicKey, (messages) => messages.map((m) => ({ ...m, payload: `${m.broker}:${m.payload}` })))
  const hook = await startHookNode(t, undefined)
  const tenancy = hook.identity.tenancy
  await tenancy.createNamespace({ name: 'acme' })
  const alpha = await tenancy.createBroker('acme', { name: 'alpha', authType: 'TOKEN', onPublish: { url: worker.url } })
  publicKey = alpha.publicKey
  assert.notEqual(publicKey, hook.broker().publicKey, 'each broker signs with its own key')
  const tokens = hook.identity.tokens
  const [[pubId, pubToken]] = Object.entries(await tokens.issue(alpha, { number: 1, clientId: 'device-1' })) as [[string, string]]
  const [[, subToken]] = Object.entries(await tokens.issue(alpha, { number: 1, clientId: 'reader' })) as [[string, string]]
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'reader', username: 'reader', password: subToken })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: pubId, username: pubId, password: pubToken })
  assert.equal(await publishCode(pub, 'room/1', 'warm', { qos: 1, properties: { payloadFormatIndicator: true } }), 0)
  await waitFor(() => got.length === 1, 5000, 'delivery in the tenant space')
  assert.equal(got[0]?.topic, 'room/1')
  assert.equal(got[0]?.payload.toString(), 'alpha:warm')
  const message = worker.batches[0]?.[0]
  assert.equal(worker.invalid, 0)
  assert.deepEqual({ broker: message?.broker, namespace: message?.namespace, topic: message?.topic, clientId: message?.clientId }, { broker: 'alpha', namespace: 'acme', topic: 'room/1', clientId: 'device-1' })
  assert.match(message?.jti ?? '', /^[0-9A-HJKMNP-TV-Z]{26}$/, 'the token\'s jti (a ULID)')
  assert.deepEqual(Object.keys(message as object).sort(), [...EXPECTED_KEYS, 'jti'].sort())
})

test('the answer decides: fewer messages (left out: PUBACK 0x00, not delivered), a changed topic; only matching topics go to the hook', async (t) => {
  const worker = await startWorker(t, () => hook.broker().publicKey, (messages) => messages
    .filter((m) => !m.topic.startsWith('sensors/debug'))
    .map((m) => m.topic === 'sensors/raw' ? { ...m, topic: 'sensors/clean', payload: m.payload.toUpperCase() } : m))
  const hook = await startHookNode(t, { url: worker.url, filter: ['sensors/#'] })
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'pub' })
  assert.equal(await publishCode(pub, 'sensors/debug/x', 'noise', { qos: 1, properties: { payloadFormatIndicator: true } }), 0)
  assert.equal(await publishCode(pub, 'sensors/debug/y', 'noise', { qos: 2, properties: { payloadFormatIndicator: true } }), 0)
  assert.equal(await publishCode(pub, 'sensors/raw', 'abc', { qos: 1, properties: { payloadFormatIndicator: true } }), 0)
  assert.equal(await publishCode(pub, 'other/topic', 'direct', { qos: 1 }), 0)
  await waitFor(() => got.length === 2, 5000, 'two deliveries')
  await sleep(100)
  assert.deepEqual(got.map((m) => [m.topic, m.payload.toString()]), [['sensors/clean', 'ABC'], ['other/topic', 'direct']])
  // Only the filter's topics reached the hook.
  assert.deepEqual(worker.batches.flat().map((m) => m.topic), ['sensors/debug/x', 'sensors/debug/y', 'sensors/raw'])
  const samples = await scrape(hook.httpPort)
  assert.equal(value(samples, 'starling_hook_messages_dropped_total', { namespace: 'default', broker: 'default', reason: 'filtered' }), 2)
})

test('failures drop the message (0x83 to MQTT 5 QoS 1/2, QoS 0 silently): status 500, time-out, malformed answer; 403 gives 0x87', async (t) => {
  let mode: 'fail' | 'slow' | 'malformed' | 'forbidden' | 'pass' = 'fail'
  const worker = await startWorker(t, () => hook.broker().publicKey, async (messages) => {
    if (mode === 'fail') return new Response('boom', { status: 500 })
    if (mode === 'slow') { await sleep(800); return messages }
    if (mode === 'malformed') return new Response('{"not":"an array"}', { status: 200 })
    if (mode === 'forbidden') return new Response('no', { status: 403 })
    return messages
  })
  const hook = await startHookNode(t, { url: worker.url, timeoutMs: 300 }, { 'hooks.breakerFailures': 100 })
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'pub' })
  const v3 = await connectClient(t, hook.url, { protocolVersion: 4, clientId: 'pub3' })

  assert.equal(await publishCode(pub, 't/500', 'a', { qos: 1 }), 0x83)
  assert.equal(await publishCode(pub, 't/500q2', 'a', { qos: 2 }), 0x83)
  pub.publish('t/500q0', 'a', { qos: 0 })
  // 3.1.1: acknowledged normally, dropped [MQTT-3.3.5-2].
  await v3.publishAsync('t/500v3', 'a', { qos: 1 })
  mode = 'slow'
  const started = Date.now()
  assert.equal(await publishCode(pub, 't/slow', 'a', { qos: 1 }), 0x83)
  assert.ok(Date.now() - started < 750, 'failed at the time-out, not at the answer')
  mode = 'malformed'
  assert.equal(await publishCode(pub, 't/malformed', 'a', { qos: 1 }), 0x83)
  mode = 'forbidden'
  assert.equal(await publishCode(pub, 't/forbidden', 'a', { qos: 1 }), 0x87)
  mode = 'pass'
  assert.equal(await publishCode(pub, 't/ok', 'a', { qos: 1 }), 0)
  await waitFor(() => got.length === 1, 5000, 'the one delivery')
  await sleep(200)
  assert.deepEqual(got.map((m) => m.topic), ['t/ok'])

  const samples = await scrape(hook.httpPort)
  const labels = { namespace: 'default', broker: 'default' }
  // The QoS 0 and the 3.1.1 message may share a batch (messages of one I/O turn are batched together).
  const statusErrors = value(samples, 'starling_hook_errors_total', { ...labels, kind: 'status' })
  assert.ok(statusErrors === 3 || statusErrors === 4, `status errors ${statusErrors}`)
  assert.equal(value(samples, 'starling_hook_errors_total', { ...labels, kind: 'timeout' }), 1)
  assert.equal(value(samples, 'starling_hook_errors_total', { ...labels, kind: 'malformed' }), 1)
  assert.equal(value(samples, 'starling_hook_errors_total', { ...labels, kind: 'refused' }), 1)
  assert.equal(value(samples, 'starling_hook_messages_dropped_total', { ...labels, reason: 'failure' }), 6)
  assert.equal(value(samples, 'starling_hook_messages_dropped_total', { ...labels, reason: 'refused' }), 1)
  assert.equal(value(samples, 'starling_hook_batches_total', labels), statusErrors + 4)
  assert.equal(value(samples, 'starling_hook_messages_total', labels), 8)
  assert.equal(value(samples, 'starling_hook_request_duration_seconds_count', labels), statusErrors + 4)
})

test('failurePolicy deliver: a failed hook lets the message through unchanged', async (t) => {
  const worker = await startWorker(t, () => hook.broker().publicKey, () => new Response('down', { status: 503 }))
  const hook = await startHookNode(t, { url: worker.url, failurePolicy: 'deliver' })
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'pub' })
  assert.equal(await publishCode(pub, 'a/b', 'same', { qos: 1 }), 0)
  pub.publish('a/c', 'zero', { qos: 0 })
  await waitFor(() => got.length === 2, 5000, 'both delivered')
  assert.deepEqual(got.map((m) => [m.topic, m.payload.toString()]), [['a/b', 'same'], ['a/c', 'zero']])
  assert.equal(worker.requests, 2)
  const samples = await scrape(hook.httpPort)
  assert.equal(value(samples, 'starling_hook_messages_delivered_on_failure_total', { namespace: 'default', broker: 'default' }), 2)
})

test('order per publisher is kept under batching and concurrency (answers arrive out of order)', async (t) => {
  const worker = await startWorker(t, () => hook.broker().publicKey, async (messages) => {
    // Later batches often answer first.
    await sleep(Math.floor(Math.random() * 40))
    return messages.map((m) => ({ ...m, payload: m.payload + '!' }))
  })
  const hook = await startHookNode(t, { url: worker.url, batchSize: 5, concurrency: 8, lingerMs: 2, filter: ['seq/+/even'] })
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('seq/#', { qos: 1 })
  const publishers = await Promise.all([0, 1, 2].map((i) => connectClient(t, hook.url, { protocolVersion: 5, clientId: `p${i}` })))
  const N = 150
  // Every other message skips the hook (filter): it still waits behind its client's earlier ones.
  // At most 50 unacknowledged per publisher: mqtt.js does not keep to the server's Receive Maximum (100).
  await Promise.all(publishers.map((pub, i) => publishWindowed(pub, N, 50, (n) => [`seq/p${i}/${n % 2 === 0 ? 'even' : 'odd'}`, String(n)])))
  await waitFor(() => got.length === 3 * N, 15000, `${3 * N} deliveries (${got.length})`)
  for (const i of [0, 1, 2]) {
    const seq = got.filter((m) => m.topic.startsWith(`seq/p${i}/`)).map((m) => Number.parseInt(m.payload.toString(), 10))
    assert.deepEqual(seq, Array.from({ length: N }, (_, n) => n), `publisher p${i} in order`)
  }
  assert.ok(got.filter((m) => m.topic.endsWith('/even')).every((m) => m.payload.toString().endsWith('!')), 'hooked ones mutated')
  assert.ok(worker.maxInFlight > 1, `concurrent requests (${worker.maxInFlight})`)
  assert.ok(worker.batches.some((b) => b.length > 1), 'batches of several messages')
  assert.ok(worker.batches.every((b) => b.length <= 5), 'batch size kept')
  assert.ok(worker.maxInFlight <= 8, 'concurrency kept')
  // Kept-alive: at most `concurrency` connections, reused.
  assert.ok(worker.connections <= 8 && worker.requests > 2 * worker.connections, `${worker.connections} connections for ${worker.requests} requests`)
})

test('circuit breaker: opens after N consecutive failures (failure policy at once, no request), probes after the wait, closes on success', async (t) => {
  let healthy = false
  const worker = await startWorker(t, () => hook.broker().publicKey, (messages) => healthy ? messages : new Response('down', { status: 500 }))
  const hook = await startHookNode(t, { url: worker.url }, { 'hooks.breakerFailures': 3, 'hooks.breakerOpenMs': 400 })
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'pub' })
  for (let i = 0; i < 3; i++) assert.equal(await publishCode(pub, 'b/fail', String(i), { qos: 1 }), 0x83)
  assert.equal(worker.requests, 3)
  const labels = { namespace: 'default', broker: 'default' }
  assert.equal(value(await scrape(hook.httpPort), 'starling_hook_breaker_open', labels), 1)
  // Open: refused at once, the endpoint is not asked.
  for (let i = 0; i < 5; i++) assert.equal(await publishCode(pub, 'b/open', String(i), { qos: 1 }), 0x83)
  assert.equal(worker.requests, 3)
  // After the wait, a failed probe opens it again.
  await sleep(450)
  assert.equal(await publishCode(pub, 'b/probe', 'x', { qos: 1 }), 0x83)
  assert.equal(worker.requests, 4)
  assert.equal(await publishCode(pub, 'b/open', 'y', { qos: 1 }), 0x83)
  assert.equal(worker.requests, 4)
  // Recovered endpoint: the next probe succeeds and closes the breaker.
  healthy = true
  await sleep(450)
  assert.equal(await publishCode(pub, 'b/ok', '1', { qos: 1 }), 0)
  assert.equal(await publishCode(pub, 'b/ok', '2', { qos: 1 }), 0)
  await waitFor(() => got.length === 2, 5000, 'deliveries after recovery')
  assert.equal(worker.requests, 6)
  const samples = await scrape(hook.httpPort)
  assert.equal(value(samples, 'starling_hook_breaker_open', labels), 0)
  assert.equal(value(samples, 'starling_hook_errors_total', { ...labels, kind: 'open' }), 6)
})

test('the hook setting changes live: removed (patch onPublish null) then set again', async (t) => {
  const worker = await startWorker(t, () => hook.broker().publicKey, (messages) => messages.map((m) => ({ ...m, payload: 'hooked', payloadEncoding: undefined })))
  const hook = await startHookNode(t, { url: worker.url })
  const sub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, hook.url, { protocolVersion: 5, clientId: 'pub' })
  await publishCode(pub, 'x', 'raw', { qos: 1 })
  await hook.identity.tenancy.updateBroker('default', 'default', { onPublish: null })
  assert.equal(hook.broker().onPublish, undefined)
  await publishCode(pub, 'x', 'raw', { qos: 1 })
  await hook.identity.tenancy.updateBroker('default', 'default', { onPublish: { url: worker.url, failurePolicy: 'deliver' } })
  await publishCode(pub, 'x', 'raw', { qos: 1 })
  await waitFor(() => got.length === 3, 5000, 'three deliveries')
  assert.deepEqual(got.map((m) => m.payload.toString()), ['hooked', 'raw', 'hooked'])
})
