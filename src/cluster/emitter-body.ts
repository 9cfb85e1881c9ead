import { deserialize, serialize } from 'node:v8'
import { StarlingError } from '../errors.js'

/**
 * Body of a version 2 or 4 bus frame (emitter-codec.ts): the fields every PUBLISH has in fixed binary
 * form, anything else (MQTT 5 properties, the User Properties' order, fields other code added)
 * in V8 structured serialization. V8's serializer costs a serializer object, a header and a tag
 * per field on every message, twice (each end); the plain QoS 0/1 packet of a v3.1.1 client
 * needs none of it.
 *
 *   uint16 BE  flags (F_*)
 *   [uint8 n, n bytes UTF-8]  brokerId            when F_BROKER_ID
 *   [float64 BE]              brokerCounter       when F_COUNTER
 *   [uint16 BE]               messageId           when F_MID
 *   [uint32 BE n, n bytes]    payload             when F_PAYLOAD
 *   [float64 BE]              publishedAt         when F_PUBLISHED_AT (our aedes patch stamps it, src/metrics/publish.ts)
 *   [uint16 BE n, n bytes UTF-8]  clientId        when F_CLIENT_ID (version 4 only: aedes stamps the
 *                             publisher's id on every client PUBLISH, for No Local [MQTT-3.8.3-3];
 *                             in V8 it cost a serializer per message at each end)
 *   [the rest, V8]            other fields, an object   when F_REST
 *
 * A field takes the binary form only with the type it has there (cmd 'publish', a short string
 * brokerId, a number counter, qos 0–2, booleans, an integer messageId or an own `undefined` one,
 * a Buffer payload); otherwise it goes with the rest, so every packet round-trips.
 */

const F_CMD_PUBLISH = 1 << 0
const F_BROKER_ID = 1 << 1
const F_COUNTER = 1 << 2
const F_QOS = 1 << 3
const QOS_SHIFT = 4 // two bits
const F_RETAIN = 1 << 6
const F_RETAIN_TRUE = 1 << 7
const F_DUP = 1 << 8
const F_DUP_TRUE = 1 << 9
const F_MID = 1 << 10
const F_MID_UNDEFINED = 1 << 11
const F_PAYLOAD = 1 << 12
const F_REST = 1 << 13
const F_PUBLISHED_AT = 1 << 14
const F_CLIENT_ID = 1 << 15
/** Flags a version 2 body may carry (F_CLIENT_ID came with version 4). */
const F_KNOWN_V2 = (1 << 15) - 1
const F_KNOWN_V4 = (1 << 16) - 1

/** Encodes every own enumerable field of `packet` but `topic` (the frame header holds it). */
export function encodeBody (packet: Record<string, unknown>): Buffer {
  let flags = 0
  let brokerId: Buffer | undefined
  let counter = 0
  let messageId = 0
  let payload: Uint8Array | undefined
  let publishedAt = 0
  let clientId: string | undefined
  let clientIdBytes = 0
  let rest: Record<string, unknown> | undefined
  for (const key of Object.keys(packet)) {
    const value = packet[key]
    switch (key) {
      case 'topic': continue
      case 'cmd':
        if (value === 'publish') { flags |= F_CMD_PUBLISH; continue }
        break
      case 'brokerId':
        if (typeof value === 'string' && value.length <= 85) { // ≤ 255 UTF-8 bytes
          flags |= F_BROKER_ID
          brokerId = Buffer.from(value)
          continue
        }
        break
      case 'brokerCounter':
        if (typeof value === 'number') { flags |= F_COUNTER; counter = value; continue }
        break
      case 'qos':
        if (value === 0 || value === 1 || value === 2) { flags |= F_QOS | (value << QOS_SHIFT); continue }
        break
      case 'retain':
        if (typeof value === 'boolean') { flags |= F_RETAIN | (value ? F_RETAIN_TRUE : 0); continue }
        break
      case 'dup':
        if (typeof value === 'boolean') { flags |= F_DUP | (value ? F_DUP_TRUE : 0); continue }
        break
      case 'messageId':
        if (value === undefined) { flags |= F_MID_UNDEFINED; continue }
        if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff) { flags |= F_MID; messageId = value; continue }
        break
      case 'payload':
        if (value instanceof Uint8Array) { flags |= F_PAYLOAD; payload = value; continue }
        break
      case 'publishedAt':
        if (typeof value === 'number') { flags |= F_PUBLISHED_AT; publishedAt = value; continue }
        break
      case 'clientId':
        if (typeof value === 'string') {
          clientIdBytes = Buffer.byteLength(value)
          if (clientIdBytes <= 0xffff) { flags |= F_CLIENT_ID; clientId = value; continue }
        }
        break
    }
    (rest ??= {})[key] = value
  }
  const restBytes = rest !== undefined ? serialize(rest) : undefined
  if (restBytes !== undefined) flags |= F_REST
  const size = 2 + (brokerId !== undefined ? 1 + brokerId.length : 0) + ((flags & F_COUNTER) !== 0 ? 8 : 0) +
    ((flags & F_MID) !== 0 ? 2 : 0) + (payload !== undefined ? 4 + payload.length : 0) + ((flags & F_PUBLISHED_AT) !== 0 ? 8 : 0) +
    (clientId !== undefined ? 2 + clientIdBytes : 0) + (restBytes?.length ?? 0)
  const body = Buffer.allocUnsafe(size)
  body.writeUInt16BE(flags, 0)
  let at = 2
  if (brokerId !== undefined) {
    body[at++] = brokerId.length
    at += brokerId.copy(body, at)
  }
  if ((flags & F_COUNTER) !== 0) at = body.writeDoubleBE(counter, at)
  if ((flags & F_MID) !== 0) at = body.writeUInt16BE(messageId, at)
  if (payload !== undefined) {
    at = body.writeUInt32BE(payload.length, at)
    body.set(payload, at)
    at += payload.length
  }
  if ((flags & F_PUBLISHED_AT) !== 0) at = body.writeDoubleBE(publishedAt, at)
  if (clientId !== undefined) {
    at = body.writeUInt16BE(clientIdBytes, at)
    at += body.write(clientId, at, clientIdBytes, 'utf8')
  }
  if (restBytes !== undefined) restBytes.copy(body, at)
  return body
}

function broken (why: string): StarlingError {
  return new StarlingError('STARLING_ERR_BUS_FRAME', [why])
}

/**
 * The packet of a body (its topic set to `topic`) of a frame of `version` (2 or 4); throws on a
 * body that does not add up.
 */
export function decodeBody (body: Buffer, topic: string, version: 2 | 4): Record<string, unknown> {
  if (body.length < 2) throw broken('message body is cut')
  const flags = body.readUInt16BE(0)
  if ((flags & ~(version === 4 ? F_KNOWN_V4 : F_KNOWN_V2)) !== 0) throw broken('message body has unknown flags')
  let at = 2
  const need = (n: number): void => { if (at + n > body.length) throw broken('message body is cut') }
  /** The range of the next field, which is prefixed with its length in `size` bytes. */
  const sized = (size: 1 | 2 | 4): [number, number] => {
    need(size)
    const n = size === 1 ? body[at]! : size === 2 ? body.readUInt16BE(at) : body.readUInt32BE(at)
    at += size
    need(n)
    at += n
    return [at - n, at]
  }
  let packet: Record<string, unknown> = {}
  let brokerId: string | undefined
  if ((flags & F_BROKER_ID) !== 0) brokerId = body.toString('utf8', ...sized(1))
  let counter = 0
  if ((flags & F_COUNTER) !== 0) { need(8); counter = body.readDoubleBE(at); at += 8 }
  let messageId = 0
  if ((flags & F_MID) !== 0) { need(2); messageId = body.readUInt16BE(at); at += 2 }
  let payload: Buffer | undefined
  // a copy: a view would keep the whole Redis message (a batch) alive while the packet is queued
  if ((flags & F_PAYLOAD) !== 0) payload = Buffer.from(body.subarray(...sized(4)))
  let publishedAt = 0
  if ((flags & F_PUBLISHED_AT) !== 0) { need(8); publishedAt = body.readDoubleBE(at); at += 8 }
  let clientId: string | undefined
  if ((flags & F_CLIENT_ID) !== 0) clientId = body.toString('utf8', ...sized(2))
  if ((flags & F_REST) !== 0) {
    const rest: unknown = deserialize(body.subarray(at))
    if (rest === null || typeof rest !== 'object' || Array.isArray(rest)) throw broken('message body rest is not an object')
    packet = rest as Record<string, unknown>
  } else if (at !== body.length) throw broken('message body has trailing bytes')
  if ((flags & F_CMD_PUBLISH) !== 0) packet.cmd = 'publish'
  if (brokerId !== undefined) packet.brokerId = brokerId
  if ((flags & F_COUNTER) !== 0) packet.brokerCounter = counter
  packet.topic = topic
  if (payload !== undefined) packet.payload = payload
  if ((flags & F_QOS) !== 0) {
    const qos = (flags >> QOS_SHIFT) & 3
    if (qos === 3) throw broken('message QoS is not 0, 1 or 2')
    packet.qos = qos
  }
  if ((flags & F_RETAIN) !== 0) packet.retain = (flags & F_RETAIN_TRUE) !== 0
  if ((flags & F_DUP) !== 0) packet.dup = (flags & F_DUP_TRUE) !== 0
  if ((flags & F_MID) !== 0) packet.messageId = messageId
  else if ((flags & F_MID_UNDEFINED) !== 0) packet.messageId = undefined
  if ((flags & F_PUBLISHED_AT) !== 0) packet.publishedAt = publishedAt
  if (clientId !== undefined) packet.clientId = clientId
  return packet
}
