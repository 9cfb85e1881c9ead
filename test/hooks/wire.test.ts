import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { brokerCreate, brokerPatch } from '../../src/api/schemas.js'
import { isStarlingError } from '../../src/errors.js'
import { CircuitBreaker } from '../../src/hooks/breaker.js'
import { parseAnswer, toHookMessage, type HookMessage, type HookResult } from '../../src/hooks/wire.js'
import { HookMetrics } from '../../src/metrics/hooks.js'
import { checkOnPublish } from '../../src/tenancy/validate.js'

const base = { broker: 'b', namespace: 'n', topic: 't/1', clientId: 'c', jti: undefined, receivedAt: 1700000000, contentType: undefined }

test('message shape: text as UTF-8, bytes as base64 with their marker, jti only when known', () => {
  const text = toHookMessage({ ...base, mid: 1, payloadFormatIndicator: true, payload: Buffer.from('héllo') })
  assert.deepEqual(text, { mid: 1, broker: 'b', namespace: 'n', topic: 't/1', clientId: 'c', receivedAt: 1700000000, contentType: '', payloadFormatIndicator: 1, payload: 'héllo' })
  const bytes = toHookMessage({ ...base, mid: 2, jti: 'j', contentType: 'application/cbor', payloadFormatIndicator: undefined, payload: Buffer.from([0, 1, 255]) })
  assert.deepEqual(bytes, { mid: 2, broker: 'b', namespace: 'n', topic: 't/1', clientId: 'c', jti: 'j', receivedAt: 1700000000, contentType: 'application/cbor', payloadFormatIndicator: 0, payload: 'AAH/', payloadEncoding: 'base64' })
})

test('answers: matched by mid, or by position without mids; left-out messages absent; fields default to the sent ones', () => {
  const sent: HookMessage[] = [1, 2, 3].map((mid) => toHookMessage({ ...base, mid, payloadFormatIndicator: 1, payload: `p${mid}` }))
  const changed = (r: unknown): HookResult => { assert.ok(typeof r === 'object' && r !== null); return r as HookResult }
  const byMid = parseAnswer(JSON.stringify([{ ...sent[2], payload: 'three' }, { mid: 1, payload: 'one', topic: 'x/y' }]), sent)
  assert.deepEqual([...byMid.keys()], [3, 1])
  assert.equal(changed(byMid.get(3)).payload.toString(), 'three')
  assert.equal(changed(byMid.get(1)).topic, 'x/y')
  assert.equal(changed(byMid.get(1)).payloadFormatIndicator, 1)
  const positional = parseAnswer(JSON.stringify(sent.map((m) => ({ topic: m.topic, payload: m.payload.toUpperCase() }))), sent)
  assert.deepEqual([...positional.values()].map((r) => changed(r).payload.toString()), ['P1', 'P2', 'P3'])
  assert.equal(parseAnswer('[]', sent).size, 0)
  assert.deepEqual([...parseAnswer(JSON.stringify(sent), sent).values()], ['unchanged', 'unchanged', 'unchanged'], 'pass-through: published as is')
  const binary = parseAnswer(JSON.stringify([{ mid: 1, payload: 'AAH/', payloadEncoding: 'base64', payloadFormatIndicator: 0 }]), sent)
  assert.deepEqual(changed(binary.get(1)).payload, Buffer.from([0, 1, 255]))
})

test('malformed answers are refused whole', () => {
  const sent = [toHookMessage({ ...base, mid: 1, payloadFormatIndicator: 1, payload: 'a' }), toHookMessage({ ...base, mid: 2, payloadFormatIndicator: 1, payload: 'b' })]
  for (const bad of ['not json', '{"a":1}', '[1]', '[{"payload":"x"}]', '[{"mid":9,"payload":"x"}]', '[{"mid":1,"payload":5}]',
    '[{"mid":1,"payload":"x","topic":"a/+"}]', '[{"mid":1,"payload":"x","topic":"$SYS/x"}]', '[{"mid":1,"payload":"x","topic":""}]',
    '[{"mid":1,"payload":"x","payloadFormatIndicator":2}]']) {
    assert.throws(() => parseAnswer(bad, sent), Error, bad)
  }
})

test('circuit breaker: N failures open it, the wait lets one probe through, success closes, probe failure reopens', () => {
  let now = 0
  const changes: boolean[] = []
  const breaker = new CircuitBreaker({ failures: 2, openMs: 100, now: () => now, onChange: (open) => changes.push(open) })
  assert.ok(breaker.allow())
  breaker.failure()
  breaker.success()
  breaker.failure()
  assert.equal(breaker.state, 'closed', 'consecutive failures only')
  breaker.failure()
  assert.equal(breaker.state, 'open')
  assert.ok(!breaker.allow())
  now = 100
  assert.ok(breaker.allow())
  assert.equal(breaker.state, 'half-open')
  assert.ok(!breaker.allow(), 'one probe at a time')
  breaker.failure()
  assert.equal(breaker.state, 'open')
  now = 150
  assert.ok(!breaker.allow())
  now = 200
  assert.ok(breaker.allow())
  breaker.success()
  assert.equal(breaker.state, 'closed')
  assert.deepEqual(changes, [true, false])
})

test('settings: checked by the store and by the API schemas; optional (older records and requests stay valid)', () => {
  assert.deepEqual(checkOnPublish({ url: 'https://h.example/x' }), { url: 'https://h.example/x', failurePolicy: 'drop' })
  assert.deepEqual(checkOnPublish({ url: 'http://127.0.0.1:1/', filter: ['a/#'], failurePolicy: 'deliver', timeoutMs: 500, batchSize: 10, lingerMs: 5, concurrency: 4 }),
    { url: 'http://127.0.0.1:1/', filter: ['a/#'], failurePolicy: 'deliver', timeoutMs: 500, batchSize: 10, lingerMs: 5, concurrency: 4 })
  for (const [bad, field] of [[{ url: 'ftp://x' }, 'onPublish.url'], [{ url: 'http://x', failurePolicy: 'maybe' }, 'onPublish.failurePolicy'], [{ url: 'http://x', filter: ['a/#/b'] }, 'onPublish.filter[0]'],
    [{ url: 'http://x', batchSize: 0 }, 'onPublish.batchSize'], [{ url: 'http://x', timeoutMs: 1.5 }, 'onPublish.timeoutMs'], [{ url: 'http://x', extra: 1 }, 'onPublish.extra'], ['x', 'onPublish']] as const) {
    assert.throws(() => checkOnPublish(bad), (err: unknown) => isStarlingError(err, 'STARLING_ERR_TENANCY_INVALID') && err.message.includes(field), JSON.stringify(bad))
  }
  assert.ok(brokerCreate.safeParse({ name: 'b' }).success)
  assert.ok(brokerCreate.safeParse({ name: 'b', onPublish: { url: 'https://h.example/', filter: ['s/#'], failurePolicy: 'deliver', batchSize: 50 } }).success)
  assert.ok(!brokerCreate.safeParse({ name: 'b', onPublish: { url: 'https://h.example/', batchSize: 5000 } }).success)
  assert.ok(brokerPatch.safeParse({ onPublish: null }).success)
  assert.ok(!brokerPatch.safeParse({ onPublish: { filter: ['a'] } }).success)
})

test('metrics: the first brokers are labelled, the rest summed under _other', () => {
  const metrics = new HookMetrics(new Registry(), { maxBrokers: 2 })
  assert.deepEqual(metrics.labels({ id: '1', namespace: 'n', name: 'a' }), { namespace: 'n', broker: 'a' })
  assert.deepEqual(metrics.labels({ id: '2', namespace: 'n', name: 'b' }), { namespace: 'n', broker: 'b' })
  assert.deepEqual(metrics.labels({ id: '3', namespace: 'n', name: 'c' }), { namespace: '_other', broker: '_other' })
  assert.deepEqual(metrics.labels({ id: '1', namespace: 'n', name: 'a' }), { namespace: 'n', broker: 'a' })
})
