import assert from 'node:assert/strict'
import { test } from 'node:test'
import { filterCovers, triggerGrants, triggerSubscribeAllowed } from '../../src/events/acl.js'
import { TriggerPublisher } from '../../src/events/publisher.js'
import { decodeAuthMessage, encodeAuthMessage } from '../../src/mqtt-auth/message.js'
import { createLogger } from '../../src/logger.js'

test('filterCovers: the grant matches every topic of the filter', () => {
  assert.equal(filterCovers('$trigger/#', '$trigger/messaging/+'), true)
  assert.equal(filterCovers('$trigger/#', '$trigger'), true)
  assert.equal(filterCovers('$trigger/device/#', '$trigger/#'), false)
  assert.equal(filterCovers('$trigger/+/created', '$trigger/device/created'), true)
  assert.equal(filterCovers('$trigger/+/created', '$trigger/+/+'), false)
  assert.equal(filterCovers('$trigger/device/created', '$trigger/device/created'), true)
  assert.equal(filterCovers('$trigger/device', '$trigger/device/created'), false)
})

test('triggerGrants: explicit $trigger allow rules and token filters only; # is no grant', () => {
  const rules = [
    { action: 'all' as const, topic: '#', allow: true },
    { action: 'publish' as const, topic: '$trigger/#', allow: true },
    { action: 'subscribe' as const, topic: '$trigger/device/#', allow: true },
    { action: 'subscribe' as const, topic: '$trigger/messaging/#', allow: false }
  ]
  assert.deepEqual(triggerGrants(rules), ['$trigger/device/#'])
  assert.deepEqual(triggerGrants([], ['a/#', '$trigger/messaging/subscribe']), ['$trigger/messaging/subscribe'])
  assert.equal(triggerSubscribeAllowed(triggerGrants(rules), '$trigger/device/created'), true)
  assert.equal(triggerSubscribeAllowed(triggerGrants(rules), '$trigger/#'), false)
  assert.equal(triggerSubscribeAllowed([], '$trigger/#'), false)
})

test('event payloads are bounded: long fields cut, long filter lists shortened and marked', () => {
  const publisher = new TriggerPublisher({} as never, { podId: 'p', maxPayloadBytes: 1024, logger: createLogger('silent', 'p') })
  const space = { mount: '', namespace: 'default', broker: 'default' }
  const payload = JSON.parse(publisher.payload('$trigger/messaging/subscribe', space, { clientId: 'x'.repeat(5000), topics: Array.from({ length: 500 }, (_, i) => `t/${i}`) }).toString())
  assert.equal(payload.clientId.length, 256)
  assert.equal(payload.truncated, true)
  assert.ok(payload.topics.length > 0 && payload.topics.length < 500)
  assert.ok(Buffer.byteLength(JSON.stringify(payload)) <= 1024)
})

test('auth message: three blocks of 2-byte big-endian length + UTF-8', () => {
  const message = encodeAuthMessage('tok.en', 'sensor-ü', 'mqtts://a.b.c:8883')
  assert.equal(message.readUInt16BE(0), 6)
  assert.equal(message.subarray(2, 8).toString(), 'tok.en')
  assert.equal(message.readUInt16BE(8), Buffer.byteLength('sensor-ü'))
  assert.deepEqual(decodeAuthMessage(message), { token: 'tok.en', deviceName: 'sensor-ü', endpointUrl: 'mqtts://a.b.c:8883' })
})
