import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseShare, shareFromKey } from '../../src/groups/parse.js'
import { decodeEntry, encodeEntry } from '../../src/groups/stream-codec.js'

test('$share/<group>/<filter>: group non-empty without / + #, then a valid filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]', () => {
  assert.deepEqual(parseShare('$share/g/a/+/#'), { group: 'g', filter: 'a/+/#', key: 'g/a/+/#' })
  assert.deepEqual(parseShare('$share/g//'), { group: 'g', filter: '/', key: 'g//' })
  for (const bad of ['$share//a', '$share/g+/a', '$share/#/a', '$share/g', '$share/g/', '$share/g/a#', '$share/g/#/a', 'a/b', '$SHARE/g/a']) {
    assert.equal(parseShare(bad), undefined, bad)
  }
  assert.deepEqual(shareFromKey('g/x/y'), { group: 'g', filter: 'x/y', key: 'g/x/y' })
})

test('a group message survives the stream entry encoding, MQTT 5 properties and binary data included', () => {
  const message = {
    topic: 't/1',
    payload: Buffer.from([0, 1, 2, 255]),
    qos: 1 as const,
    retain: true,
    properties: { correlationData: Buffer.from('cd'), userProperties: { a: 'b' }, contentType: 'x/y' },
    messageExpiry: 123456,
    enqueuedAt: 42
  }
  const fields = encodeEntry(message).map((f) => Buffer.isBuffer(f) ? f : Buffer.from(f))
  assert.deepEqual(decodeEntry(fields), message)
  assert.equal(decodeEntry(null), undefined)
})

test('entries without binary properties (no replacer or reviver) decode the same, a topic with "$b" in it too', () => {
  const plain = { topic: 't/"$b"/x', payload: Buffer.from('p'), qos: 0 as const, retain: false, enqueuedAt: 7 }
  const withText = { ...plain, qos: 2 as const, properties: { contentType: 'a/b', userProperties: { k: ['1', '2'] } } }
  for (const message of [plain, withText]) {
    const fields = encodeEntry(message).map((f) => Buffer.isBuffer(f) ? f : Buffer.from(f))
    assert.deepEqual(decodeEntry(fields), message)
  }
})
