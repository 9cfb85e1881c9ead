import { deserialize } from 'node:v8'
import { StarlingError } from '../errors.js'
import { fromOrderField, withOrderField } from '../broker/user-properties.js'
import { decodeBody, encodeBody } from './emitter-body.js'

/**
 * Wire format of one message between pods (version 4; 3 is the batch marker):
 *   byte 0        format version (4)
 *   bytes 1..8    the sending emitter's id (ORIGIN_BYTES random bytes): a pod delivers its own
 *                 messages locally and drops the copy Redis brings back
 *   bytes 9..10   byte length n of the topic (uint16 BE; MQTT topics are at most 65,535 bytes)
 *   bytes 11..    the topic, UTF-8 — read first, so a pod with no matching listener skips decoding
 *   rest          the packet (every own enumerable field but the topic): the PUBLISH fields in
 *                 binary, any other in V8 structured serialization (emitter-body.ts); the User
 *                 Properties' order, which V8 drops (a symbol), as `userPropertyOrder`
 *                 [MQTT-3.3.2-18] (src/broker/user-properties.ts)
 *
 * Version 2 (the same layout; its body cannot carry the publisher's clientId in binary) and
 * version 1 (no origin; the whole packet, topic included, in V8 serialization after the topic)
 * are still read, so a pod reads the frames of pods not yet upgraded; older pods drop the frames
 * of newer versions (README "Cluster mode": that upgrade is not a rolling one).
 *
 * A batch (one Redis message carrying the frames one pod emitted on one channel in one
 * event-loop turn, in emit order):
 *   byte 0        BATCH (3)
 *   bytes 1..2    count of frames (uint16 BE, ≥ 1)
 *   then per frame: its byte length (uint32 BE), the frame
 */

const VERSION = 4
/** Version 2: as 4, but its body has no binary clientId (emitter-body.ts). */
const VERSION_2 = 2
/** Version 1 (no origin) is still read: frames of pods not yet upgraded (see docs/scaling.md). */
const VERSION_1 = 1
export const ORIGIN_BYTES = 8
const HEADER = 3 + ORIGIN_BYTES

/** First byte of a batch of frames. */
export const BATCH = 3
/** Most frames in one batch. */
export const MAX_BATCH_FRAMES = 0xffff

/** One batch of `frames` (each a frame of encodeMessage). */
export function encodeBatch (frames: readonly Buffer[]): Buffer {
  let bytes = 3
  for (const f of frames) bytes += 4 + f.length
  const batch = Buffer.allocUnsafe(bytes)
  batch[0] = BATCH
  batch.writeUInt16BE(frames.length, 1)
  let at = 3
  for (const f of frames) {
    batch.writeUInt32BE(f.length, at)
    f.copy(batch, at + 4)
    at += 4 + f.length
  }
  return batch
}

/** The frames of a batch (views into it), or undefined when its framing is broken. */
export function splitBatch (batch: Buffer): Buffer[] | undefined {
  if (batch.length < 3 || batch[0] !== BATCH) return undefined
  const count = batch.readUInt16BE(1)
  const frames: Buffer[] = []
  let at = 3
  for (let i = 0; i < count; i++) {
    if (at + 4 > batch.length) return undefined
    const end = at + 4 + batch.readUInt32BE(at)
    if (end > batch.length) return undefined
    frames.push(batch.subarray(at + 4, end))
    at = end
  }
  return count > 0 && at === batch.length ? frames : undefined
}

/** Offset of the topic length in a frame of this version, or -1 for an unknown version. */
function lengthAt (frame: Buffer): number {
  if (frame[0] === VERSION || frame[0] === VERSION_2) return 1 + ORIGIN_BYTES
  if (frame[0] === VERSION_1) return 1
  return -1
}

export interface EmittedPacket { topic: string, [field: string]: unknown }

const NO_ORIGIN = Buffer.alloc(ORIGIN_BYTES)

/** A frame of `packet` sent by the emitter `origin` (ORIGIN_BYTES bytes; zeros when none). */
export function encodeMessage (packet: EmittedPacket, origin: Buffer = NO_ORIGIN): Buffer {
  const topicBytes = Buffer.byteLength(packet.topic)
  if (topicBytes > 0xffff) throw new StarlingError('STARLING_ERR_BUS_FRAME', [`topic of ${topicBytes} bytes is longer than 65535`])
  const body = encodeBody(withOrderField(packet))
  const frame = Buffer.allocUnsafe(HEADER + topicBytes + body.length)
  frame[0] = VERSION
  origin.copy(frame, 1, 0, ORIGIN_BYTES)
  frame.writeUInt16BE(topicBytes, 1 + ORIGIN_BYTES)
  frame.write(packet.topic, HEADER, topicBytes, 'utf8')
  body.copy(frame, HEADER + topicBytes)
  return frame
}

/** Whether a frame was sent by the emitter `origin` (version 1 frames carry no origin: never). */
export function isFrameFrom (frame: Buffer, origin: Buffer): boolean {
  return (frame[0] === VERSION || frame[0] === VERSION_2) && frame.length >= HEADER && frame.compare(origin, 0, ORIGIN_BYTES, 1, 1 + ORIGIN_BYTES) === 0
}

/** The topic of a frame, or undefined when it is not a frame of this format. */
export function frameTopic (frame: Buffer): string | undefined {
  const at = lengthAt(frame)
  if (at < 0 || frame.length < at + 2) return undefined
  const end = at + 2 + frame.readUInt16BE(at)
  if (end > frame.length) return undefined
  return frame.toString('utf8', at + 2, end)
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
 * The packet of a frame whose topic `frameTopic` returned (`topic`: that topic, when the caller
 * has it); throws on a corrupt body, or a body
 * whose topic, payload or QoS could not be a PUBLISH's (aedes would throw on them later).
 */
export function decodeMessage (frame: Buffer, topic?: string): EmittedPacket {
  const at = lengthAt(frame)
  const topicStart = at + 2
  const topicEnd = topicStart + frame.readUInt16BE(at)
  // the receiver has read the topic already (frameTopic): not decoded again for every frame
  const frameTopicText = topic ?? frame.toString('utf8', topicStart, topicEnd)
  const packet = (frame[0] === VERSION || frame[0] === VERSION_2
    ? decodeBody(frame.subarray(topicEnd), frameTopicText, frame[0] === VERSION ? 4 : 2)
    : deserialize(frame.subarray(topicEnd))) as EmittedPacket
  if (packet === null || typeof packet !== 'object' || typeof packet.topic !== 'string') {
    throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message body is not a packet'])
  }
  if (packet.topic !== frameTopicText) throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message body topic differs from the frame topic'])
  const { payload, qos } = packet
  if (payload !== undefined && typeof payload !== 'string' && !Buffer.isBuffer(payload) && !(payload instanceof Uint8Array)) {
    throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message payload is not bytes'])
  }
  if (qos !== undefined && qos !== 0 && qos !== 1 && qos !== 2) throw new StarlingError('STARLING_ERR_BUS_FRAME', ['message QoS is not 0, 1 or 2'])
  return fromOrderField(packet)
}
