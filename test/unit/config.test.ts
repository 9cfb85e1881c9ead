import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { configFields, envName } from '../../src/config/fields.js'
import { loadConfig } from '../../src/config/load.js'
import { isStarlingError } from '../../src/errors.js'

function tempFile (name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-config-'))
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

test('defaults give a working embedded broker', () => {
  const config = loadConfig()
  assert.equal(config.mqtt.port, 1883)
  assert.equal(config.ws.port, 8080)
  assert.equal(config.ws.path, '/mqtt')
  assert.equal(config.http.port, 9090)
  assert.equal(config.tls.port, 8883)
  assert.equal(config.redis.url, '')
  assert.deepEqual(config.limits, {
    maxConnections: 100000,
    maxPacketSize: 1048576,
    receiveMaximum: 100,
    maxKeepAlive: 3600,
    maxQueuedMessages: 1000,
    connectTimeoutMs: 10000,
    topicAliasMaximum: 100,
    maxSessionExpirySeconds: 604800,
    maxSubscriptionsPerClient: 1000,
    maxTopicLength: 4096,
    maxTopicLevels: 100,
    maxWillPayloadBytes: 65536,
    publishRatePerClient: 0,
    publishBytesPerClient: 0,
    connectRatePerAddress: 0,
    maxOutboundBufferBytes: 4194304,
    slowReaderTimeoutMs: 10000,
    maxPendingDeliveries: 10000,
    maxRetainedMessages: 1000000,
    maxRetainedBytes: 268435456,
    maxPersistentSessions: 1000000,
    maxRetainedScan: 100000,
    maxRetainedPerSubscription: 10000
  })
  assert.equal(config.clientIdConflict, 'takeover')
  assert.deepEqual(config.acl, [])
  assert.ok(Object.isFrozen(config.limits), 'config is deep-frozen')
})

test('env names derive from the path', () => {
  assert.equal(envName('limits.maxPacketSize'), 'STARLING_LIMITS_MAX_PACKET_SIZE')
  assert.equal(envName('clientIdConflict'), 'STARLING_CLIENT_ID_CONFLICT')
  const names = configFields().map((f) => f.env)
  assert.equal(new Set(names).size, names.length, 'env names are unique')
  for (const field of configFields()) {
    assert.notEqual(field.description, '', `${field.path} has a description`)
  }
})

test('precedence: defaults < file < env < flags', () => {
  const file = tempFile('c.yaml', 'mqtt:\n  port: 2000\nhttp:\n  port: 3000\nws:\n  port: 4000\n')
  const config = loadConfig({
    file,
    env: { STARLING_HTTP_PORT: '3001', STARLING_WS_PORT: '4001' },
    flags: { 'ws.port': 4002 }
  })
  assert.equal(config.mqtt.port, 2000)
  assert.equal(config.http.port, 3001)
  assert.equal(config.ws.port, 4002)
})

test('the ACL and limits of the issue parse from YAML', () => {
  const file = tempFile('acl.yaml', [
    'acl:',
    '  - { action: subscribe, topic: "secret/#", allow: false }',
    '  - { action: publish,   topic: "readonly/+", allow: false }',
    'limits: { maxConnections: 100000, maxPacketSize: 1048576, receiveMaximum: 100,',
    '          maxKeepAlive: 3600, maxQueuedMessages: 1000, connectTimeoutMs: 10000 }',
    'clientIdConflict: reject'
  ].join('\n'))
  const config = loadConfig({ file })
  assert.equal(config.acl.length, 2)
  assert.deepEqual(config.acl[1], { action: 'publish', topic: 'readonly/+', allow: false })
  assert.equal(config.clientIdConflict, 'reject')
})

test('env values are converted by type; ACL from JSON', () => {
  const config = loadConfig({
    env: {
      STARLING_MQTT_PROXY_PROTOCOL: 'true',
      STARLING_LIMITS_RECEIVE_MAXIMUM: '20',
      STARLING_ACL: '[{"action":"all","topic":"#","allow":true}]'
    }
  })
  assert.equal(config.mqtt.proxyProtocol, true)
  assert.equal(config.limits.receiveMaximum, 20)
  assert.equal(config.acl[0]?.action, 'all')
})

test('every problem is reported, naming the field and where it came from', () => {
  assert.throws(() => loadConfig({
    env: { STARLING_LIMITS_MAX_PACKET_SIZE: 'big', STARLING_CLIENT_ID_CONFLICT: 'sometimes' },
    flags: { 'mqtt.port': 70000 }
  }), (err: unknown) => {
    assert.ok(isStarlingError(err, 'STARLING_ERR_CONFIG_INVALID'))
    assert.match(err.message, /limits\.maxPacketSize: .*STARLING_LIMITS_MAX_PACKET_SIZE/)
    assert.match(err.message, /clientIdConflict: .*STARLING_CLIENT_ID_CONFLICT/)
    assert.match(err.message, /mqtt\.port: .*from flag/)
    return true
  })
})

test('unknown keys, bad ACL rules and unreadable files are refused', () => {
  const unknownKey = tempFile('u.yaml', 'mqtt:\n  prot: 1\n')
  assert.throws(() => loadConfig({ file: unknownKey }), /mqtt: Unrecognized key.*prot/)
  const badAcl = tempFile('a.yaml', 'acl:\n  - { action: read, topic: "a", allow: false }\n')
  assert.throws(() => loadConfig({ file: badAcl }), /acl\.0\.action/)
  assert.throws(() => loadConfig({ file: '/nonexistent/starling.yaml' }), (err: unknown) =>
    isStarlingError(err, 'STARLING_ERR_CONFIG_FILE') && /nonexistent/.test(err.message))
  const badYaml = tempFile('b.yaml', 'mqtt: [1, 2\n')
  assert.throws(() => loadConfig({ file: badYaml }), (err: unknown) => isStarlingError(err, 'STARLING_ERR_CONFIG_FILE'))
})
