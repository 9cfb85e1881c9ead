import { deserialize, serialize } from 'node:v8'
import { StarlingError } from '../errors.js'

/**
 * A session's stored copy of a queued PUBLISH (src/cluster/outgoing-store.ts) in a small binary
 * layout instead of V8 serialization, which allocated a native serializer and its buffers for
 * every message enqueued (and GC work after them) on the publishing pod:
 *   byte 0            format tag (1; a V8-serialized entry of an older version starts with 0xFF)
 *   byte 1            flags: bits 0-1 QoS, 2 retain, 3 DUP, 4 the payload was a string,
 *                     5 brokerCounter is a string, 6 `nl` is present (bit 7 its value)
 *   byte 2            flags: bit 0 clientId present (bit 1: it is undefined), bit 2 messageExpiry
 *                     present (bit 3: it is undefined), bit 4 an extras record follows
 *   brokerId          uint16 BE length + UTF-8
 *   brokerCounter     float64 BE, or uint16 BE length + UTF-8 (flag)
 *   topic             uint16 BE length + UTF-8 (MQTT topics are at most 65,535 bytes)
 *   clientId          uint16 BE length + UTF-8, when present and defined
 *   messageExpiry     float64 BE (ms since the epoch), when present and defined
 *   extras            uint32 BE length + V8 serialization of `{ properties, <order field> }`:
 *                     only for a packet with MQTT 5 properties, rare enough to keep one general path
 *   payload           the rest
 * Decoding gives the fields the V8 copy had (cmd 'publish', messageId undefined, the optional
 * fields only when they were own fields of the queued packet).
 */

const TAG = 1

export interface StoredFields {
  brokerId: string
  brokerCounter: number | string
  topic: string
  payload: Buffer | string
  qos: number
  retain: boolean
  dup: boolean
  clientId?: string | undefined
  nl?: boolean | undefined
  messageExpiry?: number | undefined
  /** properties and the User Properties' order field, as one record; undefined when neither. */
  extras?: Record<string, unknown> | undefined
}

/** Whether a stored entry is in this layout (else: V8, an older version's or a PUBREL). */
export function isCompactStored (blob: Buffer): boolean {
  return blob.length > 0 && blob[0] === TAG
}

export function encodeStored (fields: StoredFields, own: { clientId: boolean, nl: boolean, messageExpiry: boolean }): Buffer {
  const brokerId = fields.brokerId
  const counterIsString = typeof fields.brokerCounter === 'string'
  const counterText = counterIsString ? fields.brokerCounter as string : ''
  const payloadIsString = typeof fields.payload === 'string'
  const clientId = own.clientId && fields.clientId !== undefined ? fields.clientId : undefined
  const expiry = own.messageExpiry && fields.messageExpiry !== undefined ? fields.messageExpiry : undefined
  const extras = fields.extras !== undefined ? serialize(fields.extras) : undefined
  const brokerIdBytes = Buffer.byteLength(brokerId)
  const topicBytes = Buffer.byteLength(fields.topic)
  const counterBytes = counterIsString ? Buffer.byteLength(counterText) : 0
  const clientIdBytes = clientId !== undefined ? Buffer.byteLength(clientId) : 0
  const payloadBytes = payloadIsString ? Buffer.byteLength(fields.payload as string) : (fields.payload as Buffer).length
  if (brokerIdBytes > 0xffff || topicBytes > 0xffff || counterBytes > 0xffff || clientIdBytes > 0xffff) {
    throw new StarlingError('STARLING_ERR_STORED_VALUE', ['offline queue entry', 'a field is longer than 65535 bytes'])
  }
  const size = 3 + 2 + brokerIdBytes + (counterIsString ? 2 + counterBytes : 8) + 2 + topicBytes +
    (clientId !== undefined ? 2 + clientIdBytes : 0) + (expiry !== undefined ? 8 : 0) +
    (extras !== undefined ? 4 + extras.length : 0) + payloadBytes
  const out = Buffer.allocUnsafe(size)
  out[0] = TAG
  out[1] = (fields.qos & 3) | (fields.retain ? 4 : 0) | (fields.dup ? 8 : 0) | (payloadIsString ? 16 : 0) |
    (counterIsString ? 32 : 0) | (own.nl ? 64 : 0) | (fields.nl === true ? 128 : 0)
  out[2] = (own.clientId ? 1 : 0) | (own.clientId && clientId === undefined ? 2 : 0) |
    (own.messageExpiry ? 4 : 0) | (own.messageExpiry && expiry === undefined ? 8 : 0) | (extras !== undefined ? 16 : 0)
  let at = 3
  at = out.writeUInt16BE(brokerIdBytes, at)
  at += out.write(brokerId, at, 'utf8')
  if (counterIsString) {
    at = out.writeUInt16BE(counterBytes, at)
    at += out.write(counterText, at, 'utf8')
  } else {
    at = out.writeDoubleBE(fields.brokerCounter as number, at)
  }
  at = out.writeUInt16BE(topicBytes, at)
  at += out.write(fields.topic, at, 'utf8')
  if (clientId !== undefined) {
    at = out.writeUInt16BE(clientIdBytes, at)
    at += out.write(clientId, at, 'utf8')
  }
  if (expiry !== undefined) at = out.writeDoubleBE(expiry, at)
  if (extras !== undefined) {
    at = out.writeUInt32BE(extras.length, at)
    at += extras.copy(out, at)
  }
  if (payloadIsString) out.write(fields.payload as string, at, 'utf8')
  else (fields.payload as Buffer).copy(out, at)
  return out
}

function corrupt (why: string): StarlingError {
  return new StarlingError('STARLING_ERR_STORED_VALUE', ['offline queue entry', why])
}

/** The stored PUBLISH as a packet object (what the V8 copy deserialized to); throws on a corrupt entry. */
export function decodeStored (blob: Buffer): Record<string, unknown> {
  if (blob.length < 3 || blob[0] !== TAG) throw corrupt('not in the compact layout')
  const f1 = blob[1] as number
  const f2 = blob[2] as number
  let at = 3
  const need = (n: number): void => { if (at + n > blob.length) throw corrupt('truncated') }
  const text = (): string => {
    need(2)
    const n = blob.readUInt16BE(at)
    at += 2
    need(n)
    const value = blob.toString('utf8', at, at + n)
    at += n
    return value
  }
  const brokerId = text()
  let brokerCounter: number | string
  if ((f1 & 32) !== 0) brokerCounter = text()
  else {
    need(8)
    brokerCounter = blob.readDoubleBE(at)
    at += 8
  }
  const topic = text()
  const packet: Record<string, unknown> = {}
  if ((f2 & 1) !== 0) packet.clientId = (f2 & 2) !== 0 ? undefined : text()
  if ((f1 & 64) !== 0) packet.nl = (f1 & 128) !== 0
  if ((f2 & 4) !== 0) {
    if ((f2 & 8) !== 0) packet.messageExpiry = undefined
    else {
      need(8)
      packet.messageExpiry = blob.readDoubleBE(at)
      at += 8
    }
  }
  if ((f2 & 16) !== 0) {
    need(4)
    const n = blob.readUInt32BE(at)
    at += 4
    need(n)
    const extras = deserialize(blob.subarray(at, at + n)) as unknown
    at += n
    if (extras === null || typeof extras !== 'object') throw corrupt('extras are not a record')
    Object.assign(packet, extras)
  }
  packet.cmd = 'publish'
  packet.brokerId = brokerId
  packet.brokerCounter = brokerCounter
  packet.topic = topic
  // a copy: the entry's buffer is the reply's, and the packet may outlive it
  packet.payload = (f1 & 16) !== 0 ? blob.toString('utf8', at) : Buffer.from(blob.subarray(at))
  packet.qos = f1 & 3
  packet.retain = (f1 & 4) !== 0
  packet.dup = (f1 & 8) !== 0
  packet.messageId = undefined
  return packet
}
