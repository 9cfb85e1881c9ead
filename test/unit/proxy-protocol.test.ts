import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isStarlingError } from '../../src/errors.js'
import { formatIPv6, parseProxyHeader } from '../../src/listeners/proxy-protocol.js'

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

/** A v2 header: version 2, `command`, `famProto`, then `block` (addresses and TLVs). */
function v2 (command: number, famProto: number, block: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt8(0x20 | command, 0)
  head.writeUInt8(famProto, 1)
  head.writeUInt16BE(block.length, 2)
  return Buffer.concat([SIG, head, block])
}

function inet (src: number[], dst: number[], srcPort: number, dstPort: number): Buffer {
  const b = Buffer.alloc(12)
  Buffer.from(src).copy(b, 0)
  Buffer.from(dst).copy(b, 4)
  b.writeUInt16BE(srcPort, 8)
  b.writeUInt16BE(dstPort, 10)
  return b
}

test('v1 TCP4, TCP6 and UNKNOWN headers give the client address and the header length', () => {
  const tcp4 = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n')
  assert.deepEqual(parseProxyHeader(Buffer.concat([tcp4, Buffer.from([0x10, 0x00])])),
    { complete: true, length: tcp4.length, source: { address: '1.2.3.4', port: 1111 } })
  const tcp6 = Buffer.from('PROXY TCP6 2001:db8::1 ::1 65535 1883\r\n')
  assert.deepEqual(parseProxyHeader(tcp6), { complete: true, length: tcp6.length, source: { address: '2001:db8::1', port: 65535 } })
  const unknown = Buffer.from('PROXY UNKNOWN ffff::1 whatever\r\n')
  assert.deepEqual(parseProxyHeader(unknown), { complete: true, length: unknown.length, source: undefined })
})

test('a header fed one byte at a time is incomplete until its last byte', () => {
  for (const header of [Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 40000 1883\r\n'), v2(1, 0x11, inet([10, 0, 0, 1], [10, 0, 0, 2], 40000, 1883))]) {
    for (let n = 1; n < header.length; n++) assert.deepEqual(parseProxyHeader(header.subarray(0, n)), { complete: false })
    assert.deepEqual(parseProxyHeader(header), { complete: true, length: header.length, source: { address: '10.0.0.1', port: 40000 } })
  }
})

test('v2 PROXY over INET and INET6, with TLVs skipped', () => {
  const tlvs = Buffer.from([0x02, 0x00, 0x03, 0x61, 0x62, 0x63, 0x20, 0x00, 0x01, 0x00])
  const h4 = v2(1, 0x11, Buffer.concat([inet([127, 0, 0, 9], [127, 0, 0, 1], 5555, 1883), tlvs]))
  assert.deepEqual(parseProxyHeader(Buffer.concat([h4, Buffer.from('rest')])), { complete: true, length: h4.length, source: { address: '127.0.0.9', port: 5555 } })
  const block6 = Buffer.alloc(36)
  Buffer.from('20010db8000000000000000000000042', 'hex').copy(block6, 0)
  block6.writeUInt16BE(6000, 32)
  const h6 = v2(1, 0x21, block6)
  assert.deepEqual(parseProxyHeader(h6), { complete: true, length: h6.length, source: { address: '2001:db8::42', port: 6000 } })
})

test('v2 LOCAL, UNSPEC and UNIX headers carry no client address', () => {
  const local = v2(0, 0x00, Buffer.alloc(0))
  assert.deepEqual(parseProxyHeader(local), { complete: true, length: 16, source: undefined })
  const localWithAddresses = v2(0, 0x11, inet([1, 1, 1, 1], [2, 2, 2, 2], 1, 2))
  assert.deepEqual(parseProxyHeader(localWithAddresses), { complete: true, length: 28, source: undefined })
  const unix = v2(1, 0x31, Buffer.alloc(216))
  assert.deepEqual(parseProxyHeader(unix), { complete: true, length: 232, source: undefined })
})

test('anything else is refused', () => {
  const bad = [
    Buffer.from([0x10, 0x0c, 0x00, 0x04]), // a bare MQTT CONNECT
    Buffer.from('GET / HTTP/1.1\r\n'),
    Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1111\r\n'),
    Buffer.from('PROXY TCP4 1.2.3.4 ::1 1111 2222\r\n'),
    Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2222\r\n'),
    Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2222\r\n'),
    Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    Buffer.from('PROXY ' + 'x'.repeat(120)),
    Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0x00, 0x0c]), Buffer.alloc(12)]), // version 1 in a v2 header
    v2(2, 0x11, inet([1, 1, 1, 1], [2, 2, 2, 2], 1, 2)), // command 2
    v2(1, 0x12, inet([1, 1, 1, 1], [2, 2, 2, 2], 1, 2)), // DGRAM
    v2(1, 0x11, Buffer.alloc(6)), // INET block too short
    v2(1, 0x41, Buffer.alloc(0)) // family 4
  ]
  for (const buf of bad) assert.throws(() => parseProxyHeader(buf), (err) => isStarlingError(err, 'STARLING_ERR_PROXY_HEADER'), buf.toString('hex'))
})

test('IPv6 addresses are printed in RFC 5952 form', () => {
  const hex = (s: string): Buffer => Buffer.from(s, 'hex')
  assert.equal(formatIPv6(hex('00000000000000000000000000000001')), '::1')
  assert.equal(formatIPv6(hex('00000000000000000000ffff7f000001')), '::ffff:127.0.0.1')
  assert.equal(formatIPv6(hex('20010db8000000010000000000000001')), '2001:db8:0:1::1')
  assert.equal(formatIPv6(hex('20010db8000100020003000400050006')), '2001:db8:1:2:3:4:5:6')
  assert.equal(formatIPv6(hex('00000000000000000000000000000000')), '::')
})
