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

/** Reads the stamp of a payload at `buf[offset, offset + length)`; null when too short to be ours. */
export function readStamp (buf: Buffer, offset: number, length: number): MessageStamp | null {
  if (length < PAYLOAD_HEADER_BYTES) return null
  return { publisher: buf.readUInt32BE(offset), seq: buf.readUInt32BE(offset + 4), sentAt: buf.readDoubleBE(offset + 8) }
}
