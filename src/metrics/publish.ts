import type { Counter } from 'prom-client'
import type { HistogramSeries } from './fast-histogram.js'

/**
 * Per-PUBLISH counting for the hot path (a QoS 1 message costs the broker ~15-50 µs in all, so
 * the metrics get a few ns): plain array slots per QoS, folded into the prom-client counters
 * when they are read (scrape or `get()`), instead of prom-client's label hashing per message.
 */

/** The packet fields the recorders read. `publishedAt` is stamped by aedes' publish(), see wallClockMs. */
export interface RecordedPacket {
  readonly qos: number
  readonly payload?: { readonly length: number } | null
  readonly publishedAt?: number
}

export type PublishRecorder = (client: unknown, packet: RecordedPacket) => void

/**
 * Milliseconds since the epoch with sub-millisecond resolution: the clock of the
 * `publishedAt` stamp (our aedes patch uses the same expression). It is comparable across
 * pods as far as their wall clocks agree (NTP: typically well under a millisecond on one
 * network); it follows the monotonic clock between process start and now. A clock read costs
 * 30-100 ns: one per message published and one per copy written to a subscriber.
 */
export function wallClockMs (): number {
  return TIME_ORIGIN + performance.now()
}

/** Read once: the `performance.timeOrigin` getter costs as much as the clock read itself. */
const TIME_ORIGIN = performance.timeOrigin

/** Adds `pending` to the counter's `qos` children and clears it; called from the counter's collect. */
function fold (counter: Counter<'qos'>, pending: Float64Array): void {
  for (let qos = 0; qos < pending.length; qos++) {
    const n = pending[qos] as number
    if (n > 0) {
      counter.inc({ qos: String(qos) }, n)
      pending[qos] = 0
    }
  }
}

function collectInto (counter: Counter<'qos'>, pending: Float64Array): void {
  // prom-client calls a metric's `collect` (its constructor option) before each read.
  Object.assign(counter, { collect: () => fold(counter, pending) })
}

/** The recorder of each message counter created by createMetrics (see recorderFor). */
const recorders = new WeakMap<Counter<'qos'>, PublishRecorder>()

/**
 * A recorder counting messages and payload bytes by QoS and, when `latency` is given, the
 * time from `publishedAt` to now (a delivery is recorded when its PUBLISH is written).
 * Counts are kept per instance; create one per counter pair.
 */
export function createPublishRecorder (messages: Counter<'qos'>, bytes: Counter<'qos'>, latency?: HistogramSeries): PublishRecorder {
  const count = new Float64Array(3)
  const size = new Float64Array(3)
  collectInto(messages, count)
  collectInto(bytes, size)
  const record: PublishRecorder = latency === undefined
    ? function recordPublish (_client, packet) {
      const qos = packet.qos
      count[qos] = (count[qos] as number) + 1
      size[qos] = (size[qos] as number) + (packet.payload?.length ?? 0)
    }
    : function recordDelivery (_client, packet) {
      const qos = packet.qos
      count[qos] = (count[qos] as number) + 1
      size[qos] = (size[qos] as number) + (packet.payload?.length ?? 0)
      const at = packet.publishedAt
      if (at !== undefined) {
        const seconds = (wallClockMs() - at) / 1000
        // Another pod's clock may be slightly ahead: a negative difference counts as zero.
        latency.observe(seconds > 0 ? seconds : 0)
      }
    }
  recorders.set(messages, record)
  return record
}

/**
 * The recorder created for this message counter by createMetrics, or a plain count of it (for
 * a counter made elsewhere). Out-of-range QoS values are ignored (a Float64Array drops them).
 */
export function recorderFor (counter: Counter<'qos'>): PublishRecorder {
  const known = recorders.get(counter)
  if (known !== undefined) return known
  const count = new Float64Array(3)
  collectInto(counter, count)
  const record: PublishRecorder = (_client, packet) => {
    const qos = packet.qos
    count[qos] = (count[qos] as number) + 1
  }
  recorders.set(counter, record)
  return record
}
