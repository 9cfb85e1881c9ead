/**
 * Delivery accounting by message id: what arrived, how often, how late.
 * One tracker per scenario; `record` is on the hot path, so it only touches typed arrays.
 */
export class DeliveryTracker {
  /** receipts[subscriber][publisher * perPublisher + seq] = times received (saturating at 255). */
  private readonly receipts: Uint8Array[]
  private readonly latencies: Float64Array
  private latencyCount = 0
  /** Deliveries per publisher, summed over subscribers (drives the end-to-end window). */
  readonly deliveredByPublisher: Float64Array
  received = 0
  unique = 0
  duplicates = 0
  foreign = 0
  lastDeliveryAt = 0

  constructor (
    readonly subscribers: number,
    readonly publishers: number,
    readonly perPublisher: number
  ) {
    this.receipts = Array.from({ length: subscribers }, () => new Uint8Array(publishers * perPublisher))
    this.latencies = new Float64Array(subscribers * publishers * perPublisher)
    this.deliveredByPublisher = new Float64Array(publishers)
  }

  get expected (): number {
    return this.subscribers * this.publishers * this.perPublisher
  }

  get lost (): number {
    return this.expected - this.unique
  }

  record (subscriber: number, publisher: number, seq: number, sentAt: number, now: number): void {
    const row = this.receipts[subscriber]
    if (row === undefined || publisher >= this.publishers || seq >= this.perPublisher) {
      this.foreign++
      return
    }
    const index = publisher * this.perPublisher + seq
    const seen = row[index] ?? 0
    this.received++
    this.lastDeliveryAt = now
    if (seen > 0) {
      this.duplicates++
      if (seen < 255) row[index] = seen + 1
      return
    }
    row[index] = 1
    this.unique++
    this.deliveredByPublisher[publisher] = (this.deliveredByPublisher[publisher] ?? 0) + 1
    if (this.latencyCount < this.latencies.length) this.latencies[this.latencyCount++] = now - sentAt
  }

  /** Latency percentiles in ms over first receipts; NaN when nothing arrived. */
  percentiles (...ps: number[]): number[] {
    const sorted = this.latencies.slice(0, this.latencyCount).sort()
    return ps.map((p) => percentile(sorted, p))
  }
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] ?? Number.NaN
}
