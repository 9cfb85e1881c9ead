import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isStarlingError } from '../../src/errors.js'
import { isUlid, ulid } from '../../src/tenancy/ulid.js'
import { parseBrokerHost } from '../../src/tenancy/stored.js'
import { checkClientId, checkJwks, checkQuotas, checkTopicAcl, nameProblem } from '../../src/tenancy/validate.js'

test('namespace and broker names are RFC 1035 labels', () => {
  for (const good of ['a', 'my-namespace', 'example-broker', 'b2', 'a'.repeat(63), 'x-1-y']) {
    assert.equal(nameProblem(good), undefined, good)
  }
  const bad: Array<[unknown, RegExp]> = [
    ['', /1 to 63/],
    ['a'.repeat(64), /1 to 63/],
    ['1abc', /start with a lowercase letter/],
    ['-abc', /start with a lowercase letter/],
    ['abc-', /end with a hyphen/],
    ['My-Namespace', /start with a lowercase letter/],
    ['my-Namespace', /only lowercase letters/],
    ['a.b', /lowercase letters, digits and hyphens/],
    ['a_b', /lowercase letters, digits and hyphens/],
    ['ü', /start with a lowercase letter/],
    [42, /string/]
  ]
  for (const [name, why] of bad) assert.match(nameProblem(name) ?? '', why, String(name))
})

test('ULIDs are 26 Crockford base32 characters that sort by time', () => {
  const a = ulid(1_000_000)
  const b = ulid(2_000_000)
  assert.ok(isUlid(a) && isUlid(b))
  assert.ok(a < b)
  assert.equal(ulid(0).slice(0, 10), '0000000000')
  assert.notEqual(ulid(5), ulid(5), 'random part differs')
})

test('topic ACLs are lists of valid MQTT filters, named by field when not', () => {
  assert.deepEqual(checkTopicAcl('topicAcl', { publish: ['devices/+/telemetry'], subscribe: ['#'] }), { publish: ['devices/+/telemetry'], subscribe: ['#'] })
  assert.deepEqual(checkTopicAcl('topicAcl', {}), {})
  const cases: Array<[unknown, string]> = [
    [{ publish: ['a/#/b'] }, 'topicAcl.publish[0]'],
    [{ subscribe: ['ok', 'a+'] }, 'topicAcl.subscribe[1]'],
    [{ publish: 'a/b' }, 'topicAcl.publish'],
    [{ read: ['a'] }, 'topicAcl.read'],
    [{ publish: Array.from({ length: 101 }, () => 'a') }, 'topicAcl.publish']
  ]
  for (const [value, field] of cases) {
    assert.throws(() => checkTopicAcl('topicAcl', value), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_INVALID') && err.message.startsWith(field + ':'), field)
  }
})

test('broker settings: quotas, JWKS settings and client ids are checked', () => {
  assert.deepEqual(checkQuotas({ maxConnections: 10 }), { maxConnections: 10, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 0 })
  assert.throws(() => checkQuotas({ maxConnections: -1 }), /quotas.maxConnections/)
  assert.throws(() => checkQuotas({ nope: 1 }), /quotas.nope/)
  assert.deepEqual(checkJwks({ url: 'https://idp.example/jwks', issuer: 'https://idp.example/', audience: 'mqtt' }),
    { url: 'https://idp.example/jwks', issuer: 'https://idp.example/', audience: 'mqtt', clientIdClaim: 'sub' })
  assert.throws(() => checkJwks({ url: 'ftp://x/', issuer: 'i', audience: 'a' }), /jwks.url/)
  assert.throws(() => checkJwks({ url: 'https://x/', audience: 'a' }), /jwks.issuer/)
  assert.throws(() => checkJwks({ url: 'https://x/', issuer: 'i', audience: 'a', extra: 1 }), /jwks.extra/)
  assert.equal(checkClientId('clientId', 'device-1'), 'device-1')
  assert.throws(() => checkClientId('clientId', ''), /clientId/)
  assert.throws(() => checkClientId('clientId', 'a\u0000b'), /clientId/)
})

test('a host name selects a broker only as <broker>.<namespace>.<domain>', () => {
  assert.deepEqual(parseBrokerHost('example-broker.my-namespace.pubsub.example.com', 'pubsub.example.com'), { broker: 'example-broker', namespace: 'my-namespace' })
  assert.deepEqual(parseBrokerHost('Example-Broker.My-Namespace.PUBSUB.example.com.:8883', 'pubsub.example.com'), { broker: 'example-broker', namespace: 'my-namespace' })
  assert.equal(parseBrokerHost('my-namespace.pubsub.example.com', 'pubsub.example.com'), undefined)
  assert.equal(parseBrokerHost('a.b.c.pubsub.example.com', 'pubsub.example.com'), undefined)
  assert.equal(parseBrokerHost('a.b.example.org', 'pubsub.example.com'), undefined)
  assert.equal(parseBrokerHost('a.bpubsub.example.com', 'pubsub.example.com'), undefined)
})
