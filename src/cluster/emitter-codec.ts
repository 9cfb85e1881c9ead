import { deserialize, serialize } from 'node:v8'
import { StarlingError } from '../errors.js'
import { fromOrderField, withOrderField } from '../broker/user-properties.js'

/**
 * Wire format of one message between pods:
 *   byte 0       format version (1)
 *   bytes 1..2   byte length n of the topic (uint16 BE; MQTT topics are at most 65,535 bytes)
 *   bytes 3..n+2 the topic, UTF-8 — read first, so a pod with no matching listener skips decoding
 *   rest         the packet, V8 structured serialization (node:v8): every own enumerable field,
 *                Buffers (payload, correlation data) as Buffers, `undefined` kept as undefined;
 *                the User Properties' order, which V8 drops (a symbol), as `userPropertyOrder`
 *                [MQTT-3.3.2-18] (src/broker/user-properties.ts)
 */

const VERSION = 1
const HEADER = 3

export interface EmittedPacket { topic: string, [field: string]: unknown }

export function encodeMessage (packet: EmittedPacket): Buffer {
  const topicBytes = Buffer.byteLength(packet.topic)
  if (topicBytes > 0xffff) throw new StarlingError('STARLING_ERR_BUS_FRAME', [`topic of ${topicBytes} bytes is longer than 65535`])
  const body = serialize(withOrderField(packet))
  const frame = Buffer.allocUnsafe(HEADER + topicBytes + body.length)
  frame[0] = VERSION
  frame.writeUInt16BE(topicBytes, 1)
  frame.write(packet.topic, HEADER, topicBytes, 'utf8')
  body.copy(frame, HEADER + topicBytes)
  return frame
}

/** The topic of a frame, or undefined when it is not a frame of this format. */
export function frameTopic (frame: Buffer): string | undefined {
  if (frame.length < HEADER || frame[0] !== VERSION) return undefined
  const end = HEADER + frame.readUInt16BE(1)
  if (end > frame.length) return undefined
  return frame.toString('utf8', HEADER, end)
}

/** The packet of a frame whose topic `frameTopic` returned (throws on a corrupt body). */
export function decodeMessage (frame: Buffer): EmittedPacket {
  const packet = deserialize(frame.subarray(HEADER + frame.readUInt16BE(1))) as EmittedPacket
  if (packet === null || typeof packet !== 'object' || typeof packet.topic !== 'string') {
    throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message body is not a packet'])
  }
  return fromOrderField(packet)
}
