import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { decodeBody, encode, MqttCodecError, utf8Decode, utf8Encode, type MqttPacket, type ProtocolVersion } from '../../loadtest/k6/lib/mqtt-codec.js'
import { MqttDecoder } from '../../loadtest/k6/lib/mqtt-stream.js'
import { fromMqttPacket, project, samples, toMqttPacket } from './k6-samples.js'

const versions: ProtocolVersion[] = [4, 5]

function decodeAll (bytes: Uint8Array, version: ProtocolVersion): MqttPacket[] {
  return new MqttDecoder(version).push(bytes)
}

function parseWithMqttPacket (bytes: Uint8Array, version: ProtocolVersion): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: version })
  const out: Packet[] = []
  const errors: Error[] = []
  parser.on('packet', (p: Packet) => out.push(p))
  parser.on('error', (e: Error) => errors.push(e))
  parser.parse(Buffer.from(bytes))
  assert.deepEqual(errors, [])
  return out
}

test('every packet type round-trips through encode and the stream decoder, in 3.1.1 and 5', () => {
  for (const v of versions) {
    const list = samples(v)
    const types = new Set(list.map((p) => p.type))
    for (const t of ['connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect']) {
      assert.ok(types.has(t as MqttPacket['type']), `v${v} samples cover ${t}`)
    }
    for (const p of list) {
      const [back, ...extra] = decodeAll(encode(p, v), v)
      assert.deepEqual(extra, [])
      assert.deepEqual(back, p, `v${v} ${p.type}`)
    }
  }
})

test('mqtt-packet (the parser of mqtt.js and aedes) reads our bytes, and we read its bytes, the same way', () => {
  for (const v of versions) {
    for (const p of samples(v)) {
      const [theirs] = parseWithMqttPacket(encode(p, v), v)
      assert.ok(theirs !== undefined, `v${v} ${p.type} parsed by mqtt-packet`)
      assert.deepEqual(fromMqttPacket(theirs), project(p), `v${v} ${p.type}: ours → mqtt-packet`)
      const generated = mqttPacket.generate(toMqttPacket(p), { protocolVersion: v })
      const [ours] = decodeAll(generated, v)
      assert.ok(ours !== undefined)
      assert.deepEqual(project(ours), project(p), `v${v} ${p.type}: mqtt-packet → ours`)
    }
  }
})

test('packets split across frames at every byte, or merged into one frame, decode the same', () => {
  for (const v of versions) {
    const list = samples(v)
    const stream = list.map((p) => encode(p, v))
    const all = new Uint8Array(stream.reduce((n, b) => n + b.length, 0))
    let at = 0
    for (const b of stream) { all.set(b, at); at += b.length }
    // Merged: every packet in one push.
    assert.deepEqual(decodeAll(all, v), list)
    // One byte per push.
    const bytewise = new MqttDecoder(v)
    const got: MqttPacket[] = []
    for (let i = 0; i < all.length; i++) got.push(...bytewise.push(all.subarray(i, i + 1)))
    assert.deepEqual(got, list)
    assert.equal(bytewise.buffered, 0)
    // Uneven chunks (deterministic sizes 1..97), some ending inside the remaining length.
    const chunked = new MqttDecoder(v)
    const got2: MqttPacket[] = []
    for (let i = 0, k = 0; i < all.length; k++) {
      const size = 1 + ((k * 37) % 97)
      got2.push(...chunked.push(all.slice(i, i + size).buffer))
      i += size
    }
    assert.deepEqual(got2, list)
  }
})

test('remaining length uses 1 to 4 bytes at the spec boundaries and refuses a fifth', () => {
  // 3.1.1 §2.2.3 table 2.4 / 5.0 §1.5.5: 127 | 128..16383 | 16384..2097151 | 2097152..268435455.
  for (const [size, headerBytes] of [[0, 2], [127, 2], [128, 3], [16_383, 3], [16_384, 4], [2_097_151, 4], [2_097_152, 5]] as const) {
    // PUBLISH QoS 0 to topic "t": body = 2 + 1 + payload.
    const payload = new Uint8Array(size - 3 < 0 ? 0 : size - 3)
    const bytes = encode({ type: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false }, 4)
    const body = 3 + payload.length
    assert.equal(bytes.length - body, headerBytes - 0, `remaining length ${body}`)
    const [p] = decodeAll(bytes, 4)
    assert.equal(p?.type === 'publish' ? p.payload.length : -1, payload.length)
  }
  assert.throws(() => decodeAll(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 4), (e: MqttCodecError) => e.code === 'BAD_VARINT')
  // A header still incomplete after 4 bytes with the continuation bit set is refused without waiting for more.
  assert.throws(() => new MqttDecoder(5).push(Uint8Array.from([0x30, 0x80, 0x80, 0x80, 0x80])), /BAD_VARINT/)
  // An incomplete but valid header waits for more bytes.
  assert.deepEqual(new MqttDecoder(5).push(Uint8Array.from([0x30, 0x80, 0x80])), [])
})

test('malformed input fails with a clear coded error, and the decoder stays failed', () => {
  const cases: Array<[string, number[], ProtocolVersion, string]> = [
    ['reserved packet type 0', [0x00, 0x00], 4, 'BAD_TYPE'],
    ['AUTH in 3.1.1', [0xf0, 0x00], 4, 'BAD_TYPE'],
    ['PUBREL with flags 0', [0x60, 0x02, 0x00, 0x01], 4, 'BAD_FLAGS'],
    ['SUBSCRIBE with flags 0', [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00], 4, 'BAD_FLAGS'],
    ['PINGREQ with flags', [0xc1, 0x00], 5, 'BAD_FLAGS'],
    ['PUBLISH QoS 3', [0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01], 4, 'BAD_QOS'],
    ['PUBLISH QoS 0 with DUP', [0x38, 0x03, 0x00, 0x01, 0x74], 4, 'BAD_PUBLISH'],
    ['PUBLISH packet id 0', [0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00], 4, 'BAD_PACKET_ID'],
    ['topic longer than the packet', [0x30, 0x03, 0x00, 0x09, 0x74], 4, 'TRUNCATED'],
    ['PUBACK with a trailing byte (3.1.1)', [0x40, 0x03, 0x00, 0x01, 0x00], 4, 'TRAILING_BYTES'],
    ['PINGRESP with a body', [0xd0, 0x01, 0x00], 4, 'TRAILING_BYTES'],
    ['overlong UTF-8 in a topic', [0x30, 0x04, 0x00, 0x02, 0xc0, 0xaf], 4, 'BAD_UTF8'],
    ['UTF-16 surrogate in a topic', [0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80], 4, 'BAD_UTF8'],
    ['U+0000 in a topic', [0x30, 0x03, 0x00, 0x01, 0x00], 4, 'BAD_UTF8'],
    ['unknown property 0x7f', [0x30, 0x06, 0x00, 0x01, 0x74, 0x02, 0x7f, 0x00], 5, 'BAD_PROPERTY'],
    ['duplicate Message Expiry Interval', [0x30, 0x0e, 0x00, 0x01, 0x74, 0x0a, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2], 5, 'DUPLICATE_PROPERTY'],
    ['property length past the packet', [0x30, 0x04, 0x00, 0x01, 0x74, 0x09], 5, 'TRUNCATED'],
    ['CONNACK reserved flags', [0x20, 0x02, 0x02, 0x00], 4, 'BAD_CONNACK'],
    ['CONNECT protocol level 3', [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x03, 0x02, 0x00, 0x1e, 0x00, 0x00], 4, 'BAD_PROTOCOL'],
    ['CONNECT reserved flag', [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x1e, 0x00, 0x00], 4, 'BAD_CONNECT'],
    ['SUBSCRIBE without filters', [0x82, 0x02, 0x00, 0x01], 4, 'BAD_SUBSCRIBE'],
    ['SUBSCRIBE reserved option bits (3.1.1)', [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04], 4, 'BAD_SUBSCRIBE']
  ]
  for (const [what, bytes, v, code] of cases) {
    const decoder = new MqttDecoder(v)
    assert.throws(() => decoder.push(Uint8Array.from(bytes)), (e: unknown) => e instanceof MqttCodecError && e.code === code && e.message.length > 10, what)
    // Once failed, the stream is not resynchronised: the connection must be closed.
    assert.throws(() => decoder.push(Uint8Array.from([0xd0, 0x00])), (e: unknown) => e instanceof MqttCodecError && e.code === code, `${what} stays failed`)
  }
  assert.throws(() => new MqttDecoder(4, 10).push(encode({ type: 'publish', topic: 't', payload: new Uint8Array(20), qos: 0, retain: false, dup: false }, 4)), /TOO_LARGE/)
})

test('encode refuses values the spec cannot carry', () => {
  const pub = { type: 'publish', topic: 't', payload: new Uint8Array(0), retain: false, dup: false } as const
  assert.throws(() => encode({ ...pub, qos: 1 }, 4), /BAD_PACKET_ID/)
  assert.throws(() => encode({ ...pub, qos: 1, packetId: 65_536 }, 4), /BAD_PACKET_ID/)
  assert.throws(() => encode({ ...pub, qos: 0, dup: true }, 4), /BAD_PUBLISH/)
  assert.throws(() => encode({ ...pub, qos: 0, topic: 'x'.repeat(65_536) }, 4), /TOO_LONG/)
  assert.throws(() => encode({ ...pub, qos: 0, properties: { messageExpiryInterval: -1 } }, 5), /BAD_VALUE/)
  assert.throws(() => encode({ ...pub, qos: 0, properties: { subscriptionIdentifier: [268_435_456] } }, 5), /BAD_VARINT/)
  assert.throws(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [] }, 4), /BAD_SUBSCRIBE/)
  assert.throws(() => encode({ type: 'connect', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0, password: new Uint8Array(1) }, 4), /MQTT-3.1.2-22/)
  assert.throws(() => encode({ type: 'auth', reasonCode: 0 }, 4), /BAD_TYPE/)
  assert.throws(() => utf8Encode('\ud800'), /BAD_UTF8/)
})

test('UTF-8 matches the platform encoder for 1- to 4-byte characters', () => {
  const text = 'a/ß/€/𝄞/Gerät/😀'
  assert.deepEqual([...utf8Encode(text)], [...Buffer.from(text, 'utf8')])
  assert.equal(utf8Decode(Buffer.from(text, 'utf8')), text)
  // decodeBody is usable on its own for a single body.
  assert.deepEqual(decodeBody(0xc0, new Uint8Array(0), 5), { type: 'pingreq' })
})
