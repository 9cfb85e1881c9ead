/**
 * MQTT wire primitives shared by every packet: UTF-8 strings, Variable Byte Integers, binary data,
 * and the MQTT 5 property block. Pure TypeScript on Uint8Array: no k6 and no Node APIs (k6's
 * runtime has neither Buffer nor, in its typings, TextEncoder), so the same file runs in k6 and
 * under Node's test runner.
 *
 * Spec references: "3.1.1 §x" is MQTT 3.1.1 (OASIS Standard, 2014), "5.0 §x" is MQTT 5.0 (2019).
 */

/** A malformed packet or a value that cannot be encoded. `code` is stable for tests and logs. */
export class MqttCodecError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(`${message} (${code})`)
    this.name = 'MqttCodecError'
    this.code = code
  }
}

/** Largest Remaining Length: four 7-bit groups, 268,435,455 (3.1.1 §2.2.3, 5.0 §1.5.5). */
export const MAX_VARINT = 268_435_455

/** UTF-8 encoding of a JS string; lone surrogates are refused (5.0 §1.5.4, [MQTT-1.5.4-1]). */
export function utf8Encode (text: string): Uint8Array {
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i)
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const low = text.charCodeAt(i + 1)
      if (!(low >= 0xdc00 && low <= 0xdfff)) throw new MqttCodecError('BAD_UTF8', 'lone high surrogate in string')
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00)
      i++
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      throw new MqttCodecError('BAD_UTF8', 'lone low surrogate in string')
    }
    if (cp < 0x80) out.push(cp)
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f))
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f))
  }
  return Uint8Array.from(out)
}

/**
 * Strict UTF-8 decoding: overlong forms, surrogate code points (U+D800..U+DFFF) and U+0000 are
 * malformed in MQTT strings (3.1.1 §1.5.3 [MQTT-1.5.3-1] [MQTT-1.5.3-2], 5.0 §1.5.4 [MQTT-1.5.4-1] [MQTT-1.5.4-2]).
 */
export function utf8Decode (bytes: Uint8Array): string {
  let out = ''
  let i = 0
  const bad = (why: string): never => { throw new MqttCodecError('BAD_UTF8', `malformed UTF-8 string: ${why}`) }
  while (i < bytes.length) {
    const b0 = bytes[i] as number
    let cp: number
    let need: number
    let min: number
    if (b0 < 0x80) { cp = b0; need = 0; min = 0 }
    else if ((b0 & 0xe0) === 0xc0) { cp = b0 & 0x1f; need = 1; min = 0x80 }
    else if ((b0 & 0xf0) === 0xe0) { cp = b0 & 0x0f; need = 2; min = 0x800 }
    else if ((b0 & 0xf8) === 0xf0) { cp = b0 & 0x07; need = 3; min = 0x10000 }
    else return bad(`invalid lead byte 0x${b0.toString(16)}`)
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k]
      if (b === undefined) return bad('truncated sequence')
      if ((b & 0xc0) !== 0x80) return bad('invalid continuation byte')
      cp = (cp << 6) | (b & 0x3f)
    }
    if (cp < min) return bad('overlong encoding')
    if (cp >= 0xd800 && cp <= 0xdfff) return bad('surrogate code point')
    if (cp > 0x10ffff) return bad('code point above U+10FFFF')
    if (cp === 0) return bad('U+0000 is not allowed')
    out += String.fromCodePoint(cp)
    i += need + 1
  }
  return out
}

/** Variable Byte Integer encoding, least significant group first (3.1.1 §2.2.3, 5.0 §1.5.5). */
export function varintEncode (value: number, out: number[]): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_VARINT) {
    throw new MqttCodecError('BAD_VARINT', `variable byte integer out of range: ${value}`)
  }
  let v = value
  do {
    let digit = v % 128
    v = Math.floor(v / 128)
    if (v > 0) digit |= 0x80
    out.push(digit)
  } while (v > 0)
}

/** Writes big-endian MQTT data types into a growable byte list. */
export class Writer {
  readonly bytes: number[] = []
  u8 (v: number): this { this.bytes.push(v & 0xff); return this }
  /** Two Byte Integer (5.0 §1.5.2). */
  u16 (v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new MqttCodecError('BAD_VALUE', `two byte integer out of range: ${v}`)
    this.bytes.push(v >> 8, v & 0xff)
    return this
  }

  /** Four Byte Integer (5.0 §1.5.3). */
  u32 (v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new MqttCodecError('BAD_VALUE', `four byte integer out of range: ${v}`)
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff)
    return this
  }

  varint (v: number): this { varintEncode(v, this.bytes); return this }
  raw (b: Uint8Array | readonly number[]): this { for (let i = 0; i < b.length; i++) this.bytes.push(b[i] as number); return this }
  /** Binary Data: two-byte length then the bytes (3.1.1 §1.5.3 for strings, 5.0 §1.5.6). */
  binary (b: Uint8Array): this {
    if (b.length > 0xffff) throw new MqttCodecError('TOO_LONG', `binary data longer than 65535 bytes: ${b.length}`)
    return this.u16(b.length).raw(b)
  }

  /** UTF-8 Encoded String: two-byte length then the bytes (3.1.1 §1.5.3, 5.0 §1.5.4). */
  str (s: string): this {
    const b = utf8Encode(s)
    if (b.length > 0xffff) throw new MqttCodecError('TOO_LONG', `string longer than 65535 bytes: ${b.length}`)
    return this.u16(b.length).raw(b)
  }
}

/** Reads MQTT data types from one packet body; running past the end is a malformed packet. */
export class Reader {
  pos = 0
  constructor (readonly buf: Uint8Array, readonly what: string) {}
  get left (): number { return this.buf.length - this.pos }
  private need (n: number): void {
    if (this.left < n) throw new MqttCodecError('TRUNCATED', `${this.what}: packet ends ${n - this.left} byte(s) early`)
  }

  u8 (): number { this.need(1); return this.buf[this.pos++] as number }
  u16 (): number { this.need(2); const v = ((this.buf[this.pos] as number) << 8) | (this.buf[this.pos + 1] as number); this.pos += 2; return v }
  u32 (): number {
    this.need(4)
    const b = this.buf
    const p = this.pos
    this.pos += 4
    return (((b[p] as number) << 24) >>> 0) + ((b[p + 1] as number) << 16) + ((b[p + 2] as number) << 8) + (b[p + 3] as number)
  }

  /** Variable Byte Integer; a fifth continuation byte is malformed [MQTT-1.5.5-1] (5.0), 3.1.1 §2.2.3. */
  varint (): number {
    let value = 0
    let mult = 1
    for (let i = 0; i < 4; i++) {
      const b = this.u8()
      value += (b & 0x7f) * mult
      if ((b & 0x80) === 0) return value
      mult *= 128
    }
    throw new MqttCodecError('BAD_VARINT', `${this.what}: variable byte integer longer than 4 bytes`)
  }

  bytes (n: number): Uint8Array { this.need(n); const v = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return v }
  binary (): Uint8Array { return this.bytes(this.u16()).slice() }
  str (): string { return utf8Decode(this.bytes(this.u16())) }
  rest (): Uint8Array { return this.bytes(this.left).slice() }
  end (): void {
    if (this.left !== 0) throw new MqttCodecError('TRAILING_BYTES', `${this.what}: ${this.left} unexpected byte(s) at the end`)
  }
}

/** MQTT 5 properties (5.0 §2.2.2.2). Only names are mapped; the codec does not judge which packet may carry which. */
export interface Properties {
  payloadFormatIndicator?: number
  messageExpiryInterval?: number
  contentType?: string
  responseTopic?: string
  correlationData?: Uint8Array
  subscriptionIdentifier?: number[]
  sessionExpiryInterval?: number
  assignedClientIdentifier?: string
  serverKeepAlive?: number
  authenticationMethod?: string
  authenticationData?: Uint8Array
  requestProblemInformation?: number
  willDelayInterval?: number
  requestResponseInformation?: number
  responseInformation?: string
  serverReference?: string
  reasonString?: string
  receiveMaximum?: number
  topicAliasMaximum?: number
  topicAlias?: number
  maximumQoS?: number
  retainAvailable?: number
  userProperties?: Array<[string, string]>
  maximumPacketSize?: number
  wildcardSubscriptionAvailable?: number
  subscriptionIdentifiersAvailable?: number
  sharedSubscriptionAvailable?: number
}

type Kind = 'byte' | 'u16' | 'u32' | 'varint' | 'str' | 'bin' | 'pair'
/** Identifier → name and data type, from the table in 5.0 §2.2.2.2. */
const PROPS: ReadonlyArray<readonly [number, keyof Properties, Kind]> = [
  [0x01, 'payloadFormatIndicator', 'byte'], [0x02, 'messageExpiryInterval', 'u32'], [0x03, 'contentType', 'str'],
  [0x08, 'responseTopic', 'str'], [0x09, 'correlationData', 'bin'], [0x0b, 'subscriptionIdentifier', 'varint'],
  [0x11, 'sessionExpiryInterval', 'u32'], [0x12, 'assignedClientIdentifier', 'str'], [0x13, 'serverKeepAlive', 'u16'],
  [0x15, 'authenticationMethod', 'str'], [0x16, 'authenticationData', 'bin'], [0x17, 'requestProblemInformation', 'byte'],
  [0x18, 'willDelayInterval', 'u32'], [0x19, 'requestResponseInformation', 'byte'], [0x1a, 'responseInformation', 'str'],
  [0x1c, 'serverReference', 'str'], [0x1f, 'reasonString', 'str'], [0x21, 'receiveMaximum', 'u16'],
  [0x22, 'topicAliasMaximum', 'u16'], [0x23, 'topicAlias', 'u16'], [0x24, 'maximumQoS', 'byte'],
  [0x25, 'retainAvailable', 'byte'], [0x26, 'userProperties', 'pair'], [0x27, 'maximumPacketSize', 'u32'],
  [0x28, 'wildcardSubscriptionAvailable', 'byte'], [0x29, 'subscriptionIdentifiersAvailable', 'byte'],
  [0x2a, 'sharedSubscriptionAvailable', 'byte']
]
const BY_ID = new Map(PROPS.map(([id, name, kind]) => [id, { name, kind }]))

/** Property Length then the properties (5.0 §2.2.2.1). User Property and Subscription Identifier may repeat. */
export function writeProperties (w: Writer, props: Properties | undefined): void {
  const body = new Writer()
  const bag = (props ?? {}) as Record<string, unknown>
  for (const [id, name, kind] of PROPS) {
    const value = bag[name]
    if (value === undefined) continue
    if (kind === 'pair') {
      for (const [k, v] of value as Array<[string, string]>) body.varint(id).str(k).str(v)
    } else if (name === 'subscriptionIdentifier') {
      for (const v of value as number[]) body.varint(id).varint(v)
    } else {
      body.varint(id)
      if (kind === 'byte') body.u8(value as number)
      else if (kind === 'u16') body.u16(value as number)
      else if (kind === 'u32') body.u32(value as number)
      else if (kind === 'varint') body.varint(value as number)
      else if (kind === 'str') body.str(value as string)
      else body.binary(value as Uint8Array)
    }
  }
  w.varint(body.bytes.length).raw(body.bytes)
}

/**
 * Reads a property block. An unknown identifier, or a property other than User Property and
 * Subscription Identifier given twice, is malformed / a protocol error (5.0 §2.2.2.2).
 */
export function readProperties (r: Reader): Properties | undefined {
  const length = r.varint()
  if (length === 0) return undefined
  const pr = new Reader(r.bytes(length), `${r.what} properties`)
  const out: Record<string, unknown> = {}
  while (pr.left > 0) {
    const id = pr.varint()
    const spec = BY_ID.get(id)
    if (spec === undefined) throw new MqttCodecError('BAD_PROPERTY', `${r.what}: unknown property identifier 0x${id.toString(16)}`)
    const { name, kind } = spec
    if (kind === 'pair') {
      const list = (out[name] ?? []) as Array<[string, string]>
      list.push([pr.str(), pr.str()])
      out[name] = list
      continue
    }
    if (name === 'subscriptionIdentifier') {
      const list = (out[name] ?? []) as number[]
      list.push(pr.varint())
      out[name] = list
      continue
    }
    if (out[name] !== undefined) throw new MqttCodecError('DUPLICATE_PROPERTY', `${r.what}: property ${name} given twice`)
    out[name] = kind === 'byte' ? pr.u8() : kind === 'u16' ? pr.u16() : kind === 'u32' ? pr.u32() : kind === 'varint' ? pr.varint() : kind === 'str' ? pr.str() : pr.binary()
  }
  return out as Properties
}
