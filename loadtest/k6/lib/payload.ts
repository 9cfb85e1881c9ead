/**
 * Load-test payloads and delivery accounting. Same layout as the Node harness
 * (loadtest/bench/payload.ts), but the clock is wall time so it also works across k6 VUs:
 *   [0..3]  sender index (uint32 BE)
 *   [4..7]  sequence number within that sender (uint32 BE)
 *   [8..15] send time, Date.now() in ms (float64 BE)
 *   [16..]  zero padding up to the payload size
 * Pure TypeScript on Uint8Array/DataView (no k6 or Node APIs).
 */
export const STAMP_BYTES = 16

export interface Stamp { sender: number, seq: number, sentAt: number }

export function stampPayload (sender: number, seq: number, sentAt: number, size = STAMP_BYTES): Uint8Array {
  const out = new Uint8Array(Math.max(size, STAMP_BYTES))
  const view = new DataView(out.buffer)
  view.setUint32(0, sender >>> 0)
  view.setUint32(4, seq >>> 0)
  view.setFloat64(8, sentAt)
  return out
}

/** The stamp of a payload, or undefined when it is too short to be one of ours. */
export function readStamp (payload: Uint8Array): Stamp | undefined {
  if (payload.length < STAMP_BYTES) return undefined
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  return { sender: view.getUint32(0), seq: view.getUint32(4), sentAt: view.getFloat64(8) }
}

/**
 * Which sequence numbers of one sender arrived, in O(out-of-order) memory: everything below
 * `contiguous` arrived; `ahead` holds the ones that arrived past a gap.
 */
class SeqSet {
  contiguous = 0
  readonly ahead = new Set<number>()
  /** Records `seq`; false when it had already arrived (a duplicate). */
  add (seq: number): boolean {
    if (seq < this.contiguous || this.ahead.has(seq)) return false
    if (seq !== this.contiguous) { this.ahead.add(seq); return true }
    this.contiguous++
    while (this.ahead.delete(this.contiguous)) this.contiguous++
    return true
  }
}

/**
 * Counts sent and received messages per sender so the end of a run can say how many were lost
 * and how many came twice. Senders number their messages 0, 1, 2, ...
 */
export class DeliveryLedger {
  private readonly seen = new Map<number, SeqSet>()
  private readonly sentBySender = new Map<number, number>()
  sent = 0
  delivered = 0
  duplicates = 0

  /** Records a send and returns its sequence number for the stamp. */
  nextSeq (sender: number): number {
    const seq = this.sentBySender.get(sender) ?? 0
    this.sentBySender.set(sender, seq + 1)
    this.sent++
    return seq
  }

  /** Records an arrival; true the first time this (sender, seq) arrives. */
  receive (stamp: Stamp): boolean {
    let set = this.seen.get(stamp.sender)
    if (set === undefined) { set = new SeqSet(); this.seen.set(stamp.sender, set) }
    if (!set.add(stamp.seq)) { this.duplicates++; return false }
    this.delivered++
    return true
  }

  /** Messages sent and never received (so far). */
  get missing (): number { return this.sent - this.delivered }
}
