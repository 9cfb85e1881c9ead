import { isIPv4, isIPv6 } from 'node:net'
import { StarlingError } from '../errors.js'

/**
 * PROXY protocol v1 (text) and v2 (binary) header parser, after HAProxy's specification
 * (doc/proxy-protocol.txt). Pure: it looks at the bytes received so far and says whether a
 * complete header is there, how long it is and which client address it carries.
 */

/** The client address a proxy reported; absent for LOCAL / UNKNOWN / UNSPEC / UNIX headers. */
export interface ProxySource {
  readonly address: string
  readonly port: number
}

export type ProxyParseResult =
  | { readonly complete: false }
  | { readonly complete: true, readonly length: number, readonly source: ProxySource | undefined }

/** Why a header was refused; the caller closes the connection. */
function proxyHeaderError (detail: string): StarlingError {
  return new StarlingError('STARLING_ERR_PROXY_HEADER', [detail])
}

const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
/** 107 bytes is the longest v1 line, CRLF included (spec section 2.1). */
const V1_MAX_LENGTH = 107
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_HEADER_LENGTH = 16
const INCOMPLETE: ProxyParseResult = { complete: false }

/** True while `buf` (possibly shorter) agrees with `prefix` on their common length. */
function startsLike (buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length)
  return buf.subarray(0, n).equals(prefix.subarray(0, n))
}

/** Parses the header at the start of `buf`; throws STARLING_ERR_PROXY_HEADER if it cannot be one. */
export function parseProxyHeader (buf: Buffer): ProxyParseResult {
  if (buf.length === 0) return INCOMPLETE
  if (startsLike(buf, V2_SIGNATURE)) return parseV2(buf)
  if (startsLike(buf, V1_PREFIX)) return parseV1(buf)
  throw proxyHeaderError('no PROXY protocol signature')
}

function parsePort (text: string | undefined): number {
  if (text === undefined || !/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    throw proxyHeaderError('v1: bad port')
  }
  return Number(text)
}

function parseV1 (buf: Buffer): ProxyParseResult {
  const end = buf.subarray(0, V1_MAX_LENGTH).indexOf('\r\n', 0, 'latin1')
  if (end === -1) {
    if (buf.length >= V1_MAX_LENGTH) throw proxyHeaderError('v1: no CRLF within 107 bytes')
    return INCOMPLETE
  }
  const length = end + 2
  const fields = buf.subarray(0, end).toString('latin1').split(' ')
  const proto = fields[1]
  // "PROXY UNKNOWN" may be followed by anything; the receiver uses the real connection's address.
  if (proto === 'UNKNOWN') return { complete: true, length, source: undefined }
  if (fields.length !== 6) throw proxyHeaderError('v1: expected 6 fields')
  const [, , src, dst, srcPort, dstPort] = fields
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined
  if (valid === undefined) throw proxyHeaderError('v1: protocol must be TCP4, TCP6 or UNKNOWN')
  if (src === undefined || dst === undefined || !valid(src) || !valid(dst)) {
    throw proxyHeaderError(`v1: bad ${proto} address`)
  }
  parsePort(dstPort)
  return { complete: true, length, source: { address: src, port: parsePort(srcPort) } }
}

function parseV2 (buf: Buffer): ProxyParseResult {
  if (buf.length < V2_HEADER_LENGTH) return INCOMPLETE
  const verCmd = buf.readUInt8(12)
  if (verCmd >> 4 !== 2) throw proxyHeaderError('v2: version must be 2')
  const command = verCmd & 0x0f
  if (command !== 0 && command !== 1) throw proxyHeaderError('v2: command must be LOCAL or PROXY')
  const famProto = buf.readUInt8(13)
  const family = famProto >> 4
  const transport = famProto & 0x0f
  const length = V2_HEADER_LENGTH + buf.readUInt16BE(14)
  if (family > 3 || transport > 2) throw proxyHeaderError('v2: unknown address family or transport')
  if (buf.length < length) return INCOMPLETE
  // LOCAL: the proxy's own connection (health check); UNSPEC/UNIX: no IP to report. The
  // address block and any TLVs (e.g. PP2_TYPE_SSL, PP2_TYPE_AUTHORITY) are skipped via `length`.
  if (command === 0 || family === 0 || family === 3) return { complete: true, length, source: undefined }
  if (transport !== 1) throw proxyHeaderError('v2: only STREAM transport is served')
  const block = buf.subarray(V2_HEADER_LENGTH, length)
  if (family === 1) {
    if (block.length < 12) throw proxyHeaderError('v2: INET address block too short')
    const address = Array.from(block.subarray(0, 4)).join('.')
    return { complete: true, length, source: { address, port: block.readUInt16BE(8) } }
  }
  if (block.length < 36) throw proxyHeaderError('v2: INET6 address block too short')
  return { complete: true, length, source: { address: formatIPv6(block.subarray(0, 16)), port: block.readUInt16BE(32) } }
}

/** RFC 5952 text form: lower-case hex, longest run (2+) of zero groups shortened to `::`. */
export function formatIPv6 (bytes: Buffer): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i))
  if (groups.slice(0, 6).join(',') === '0,0,0,0,0,65535') {
    return `::ffff:${Array.from(bytes.subarray(12, 16)).join('.')}`
  }
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart === -1) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}
