/**
 * Benchmark payload layout: every message carries who sent it, its sequence number and when.
 *   [0..3]  publisher index (uint32 BE)
 *   [4..7]  sequence number within that publisher (uint32 BE)
 *   [8..15] send time, performance.now() in ms of the generator process (float64 BE)
 *   [16..]  zero padding up to the payload size
 * Publishers and subscribers live in the same process, so one monotonic clock serves both ends.
 */
export const PAYLOAD_HEADER_BYTES = 16

export interface MessageStamp {
  readonly publisher: number
  readonly seq: number
  readonly sentAt: number
}

/** Writes the stamp into `buf` at `offset` (the start of the payload). */
export function writeStamp (buf: Buffer, offset: number, publisher: number, seq: number, sentAt: number): void {
  buf.writeUInt32BE(publisher, offset)
  buf.writeUInt32BE(seq, offset + 4)
  buf.writeDoubleBE(sentAt, offset + 8)
}

/** Reads the stamp from a received payload; null when the payload is too short to be ours. */
export function readStamp (payload: Buffer): MessageStamp | null {
  if (payload.length < PAYLOAD_HEADER_BYTES) return null
  return { publisher: payload.readUInt32BE(0), seq: payload.readUInt32BE(4), sentAt: payload.readDoubleBE(8) }
}
