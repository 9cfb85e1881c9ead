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

/**
 * Most levels a frame's topic may have: the local matcher (mqemitter's Qlobber) throws on more
 * (`max_words`, 100), and a throw inside the Redis message handler would end the process.
 */
export const MAX_FRAME_TOPIC_LEVELS = 100

/**
 * Why a frame's topic cannot be a PUBLISH topic, or undefined when it can: non-empty, no
 * wildcard, no U+0000 [MQTT-4.7.3-1] [MQTT-3.3.2-2] [MQTT-4.7.3-2], at most
 * MAX_FRAME_TOPIC_LEVELS levels. Checked before the topic is matched: frames come from Redis,
 * where anyone with access can PUBLISH anything.
 */
export function invalidFrameTopic (topic: string): string | undefined {
  if (topic.length === 0) return 'empty topic'
  let levels = 1
  for (let i = 0; i < topic.length; i++) {
    const code = topic.charCodeAt(i)
    if (code === 0x2f) {
      if (++levels > MAX_FRAME_TOPIC_LEVELS) return `topic has more than ${MAX_FRAME_TOPIC_LEVELS} levels`
    } else if (code === 0x2b || code === 0x23) return 'wildcard in a published topic'
    else if (code === 0) return 'U+0000 in topic'
  }
  return undefined
}

/**
 * The packet of a frame whose topic `frameTopic` returned; throws on a corrupt body, or a body
 * whose topic, payload or QoS could not be a PUBLISH's (aedes would throw on them later).
 */
export function decodeMessage (frame: Buffer): EmittedPacket {
  const topicEnd = HEADER + frame.readUInt16BE(1)
  const packet = deserialize(frame.subarray(topicEnd)) as EmittedPacket
  if (packet === null || typeof packet !== 'object' || typeof packet.topic !== 'string') {
    throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message body is not a packet'])
  }
  if (packet.topic !== frame.toString('utf8', HEADER, topicEnd)) throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message body topic differs from the frame topic'])
  const { payload, qos } = packet
  if (payload !== undefined && typeof payload !== 'string' && !Buffer.isBuffer(payload) && !(payload instanceof Uint8Array)) {
    throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message payload is not bytes'])
  }
  if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message QoS is not 0, 1 or 2'])
  return fromOrderField(packet)
}
