import assert from 'node:assert/strict'
import { test } from 'node:test'
import { serialize } from 'node:v8'
import { decodeStored, encodeStored, isCompactStored } from '../../src/cluster/stored-codec.js'

const none = { clientId: false, nl: false, messageExpiry: false }

test('a queued PUBLISH comes back with the fields it was stored with', () => {
  const blob = encodeStored({ brokerId: 'b-1', brokerCounter: 42, topic: 'a/b', payload: Buffer.from('hello'), qos: 1, retain: true, dup: false }, none)
  assert.ok(isCompactStored(blob))
  assert.deepEqual(decodeStored(blob), { cmd: 'publish', brokerId: 'b-1', brokerCounter: 42, topic: 'a/b', payload: Buffer.from('hello'), qos: 1, retain: true, dup: false, messageId: undefined })
})

test('optional fields keep whether they were present, and their value (also undefined)', () => {
  const fields = { brokerId: 'pod', brokerCounter: 'c-7', topic: 'ü/ß', payload: 'text payload', qos: 2, retain: false, dup: true, clientId: 'publisher', nl: true, messageExpiry: 1_800_000_000_123 }
  const all = { clientId: true, nl: true, messageExpiry: true }
  const decoded = decodeStored(encodeStored(fields, all))
  assert.equal(decoded.brokerCounter, 'c-7')
  assert.equal(decoded.topic, 'ü/ß')
  assert.equal(decoded.payload, 'text payload')
  assert.equal(decoded.clientId, 'publisher')
  assert.equal(decoded.nl, true)
  assert.equal(decoded.messageExpiry, 1_800_000_000_123)
  assert.equal(decoded.qos, 2)
  assert.equal(decoded.dup, true)
  const undef = decodeStored(encodeStored({ ...fields, clientId: undefined, nl: false, messageExpiry: undefined }, all))
  assert.ok(Object.hasOwn(undef, 'clientId') && undef.clientId === undefined)
  assert.ok(Object.hasOwn(undef, 'messageExpiry') && undef.messageExpiry === undefined)
  assert.equal(undef.nl, false)
  const absent = decodeStored(encodeStored(fields, none))
  for (const name of ['clientId', 'nl', 'messageExpiry']) assert.ok(!Object.hasOwn(absent, name), name)
})

test('MQTT 5 properties and the User Properties order travel in the extras record', () => {
  const properties = { contentType: 'text/plain', correlationData: Buffer.from([1, 2, 3]), userProperties: { b: '1', a: ['2', '3'] } }
  const decoded = decodeStored(encodeStored({ brokerId: 'b', brokerCounter: 1, topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, dup: false, extras: { properties, userPropertyOrder: ['b', 'a', 'a'] } }, none))
  assert.deepEqual(decoded.properties, properties)
  assert.deepEqual(decoded.userPropertyOrder, ['b', 'a', 'a'])
  assert.deepEqual(decoded.payload, Buffer.alloc(0))
})

test('an older V8-serialized entry is told apart; a truncated entry throws a registry error', () => {
  assert.equal(isCompactStored(serialize({ cmd: 'publish', topic: 't' })), false)
  const blob = encodeStored({ brokerId: 'b', brokerCounter: 1, topic: 'some/topic', payload: Buffer.from('x'), qos: 1, retain: false, dup: false }, none)
  assert.throws(() => decodeStored(blob.subarray(0, 8)), { code: 'STARLING_ERR_STORED_VALUE' })
})
