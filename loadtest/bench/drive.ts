import { performance } from 'node:perf_hooks'
import type { BenchClient } from './clients.js'
import { readStamp } from './payload.js'
import { Publisher } from './publisher.js'
import type { DeliveryTracker } from './stats.js'

/** What drives one scenario's load, whatever the brokers behind the clients. */
export interface DriveOptions {
  readonly topic: string
  readonly qos: 0 | 1
  readonly perPublisher: number
  readonly payloadBytes: number
  readonly window: number
  /** End-to-end window over all publishers, split between them. */
  readonly aheadLimit: number
  readonly timeoutMs: number
  readonly settleMs: number
  /** The subscribers are members of one shared-subscription group: a message counts once, whoever gets it. */
  readonly shared?: boolean
}

export interface DriveHooks {
  /** Every stamped delivery, after the tracker recorded it. */
  readonly onDelivery?: (subIndex: number, now: number) => void
  /** Runs right before the first publish (CPU and Redis snapshots). */
  readonly beforeStart?: () => Promise<void> | void
  /** True once a connection closed unexpectedly: the run then ends at the next settle. */
  readonly closedEarly?: () => boolean
}

export interface DriveResult {
  readonly publishers: Publisher[]
  readonly aheadPerPublisher: number
  readonly started: number
  readonly timedOut: boolean
}

/**
 * Builds a Publisher per publishing client, counts every subscriber delivery in `tracker`, pumps
 * the publishers whenever an ack, a delivery or a drain frees a window (once per event-loop
 * turn), and waits until the run ends (see waitForEnd).
 */
export async function driveLoad (subs: readonly BenchClient[], pubs: readonly BenchClient[], tracker: DeliveryTracker, opts: DriveOptions, hooks: DriveHooks = {}): Promise<DriveResult> {
  // A group is one logical subscriber (tracker index 0) however many members it has.
  const logical = opts.shared === true ? 1 : subs.length
  const aheadPerPublisher = Math.max(1, Math.floor(opts.aheadLimit / (pubs.length * logical)))
  const publishers = pubs.map((client, index) => new Publisher(client, {
    index,
    topic: opts.topic,
    qos: opts.qos,
    count: opts.perPublisher,
    payloadBytes: opts.payloadBytes,
    window: opts.window,
    aheadLimit: aheadPerPublisher,
    delivered: () => (tracker.deliveredByPublisher[index] ?? 0) / logical
  }))
  let scheduled = false
  const pumpAll = (): void => {
    scheduled = false
    for (const p of publishers) p.pump()
  }
  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(pumpAll)
  }
  subs.forEach((sub, subIndex) => {
    sub.onPublish = (buf, offset, length) => {
      const stamp = readStamp(buf, offset, length)
      if (stamp === null) {
        tracker.foreign++
        return
      }
      const now = performance.now()
      tracker.record(opts.shared === true ? 0 : subIndex, stamp.publisher, stamp.seq, stamp.sentAt, now)
      hooks.onDelivery?.(subIndex, now)
      schedule()
    }
  })
  for (const client of pubs) {
    client.onAck = schedule
    client.socket.on('drain', schedule)
  }

  await hooks.beforeStart?.()
  const started = performance.now()
  tracker.lastDeliveryAt = started
  pumpAll()
  const timedOut = await waitForEnd(tracker, publishers, opts, hooks.closedEarly ?? (() => false))
  return { publishers, aheadPerPublisher, started, timedOut }
}

/**
 * Polls every 50 ms until every message arrived, or everything was sent (QoS 1: acked) and
 * nothing arrived for `settleMs`, or the deadline. When publishers are blocked only by the
 * end-to-end window and nothing arrives for `settleMs` (lost messages), each gets one more window
 * of credit. Returns true on the deadline.
 */
async function waitForEnd (tracker: DeliveryTracker, publishers: Publisher[], opts: DriveOptions, closedEarly: () => boolean): Promise<boolean> {
  const deadline = performance.now() + opts.timeoutMs
  let lastProgress = performance.now()
  let lastSeen = -1
  while (performance.now() < deadline) {
    if (tracker.unique >= tracker.expected) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
    const now = performance.now()
    const progress = tracker.received + publishers.reduce((n, p) => n + p.client.acked, 0)
    if (progress !== lastSeen) {
      lastSeen = progress
      lastProgress = now
      continue
    }
    if (now - lastProgress < opts.settleMs) continue
    if (publishers.every((p) => p.sent >= p.opts.count) || closedEarly()) return false
    for (const p of publishers) {
      if (p.sent < p.opts.count) {
        p.stallCredit += p.opts.aheadLimit
        p.pump()
      }
    }
    lastProgress = now
  }
  return true
}
