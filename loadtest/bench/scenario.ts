import { performance } from 'node:perf_hooks'
import { connectMany, type BenchClient } from './clients.js'
import { readStamp } from './payload.js'
import { cpuSeconds, ownCpuSeconds } from './procstat.js'
import { Publisher } from './publisher.js'
import { DeliveryTracker } from './stats.js'

export type ShapeName = 'one-to-one' | 'fan-in' | 'fan-out'

export interface ScenarioSpec {
  readonly shape: ShapeName
  readonly qos: 0 | 1
  readonly publishers: number
  readonly subscribers: number
  /** Messages each publisher sends. */
  readonly perPublisher: number
}

export interface RunOptions {
  readonly port: number
  readonly brokerPid: number
  readonly protocolVersion: 4 | 5
  readonly payloadBytes: number
  readonly window: number
  /** Deliveries in transit end to end, over all publishers and subscribers (split evenly per publisher). */
  readonly aheadLimit: number
  readonly timeoutMs: number
  /** Give up waiting for the rest once nothing has arrived for this long after the last publish. */
  readonly settleMs: number
  readonly label: string
}

export interface ScenarioResult {
  readonly spec: ScenarioSpec
  readonly expected: number
  readonly received: number
  /** Distinct deliveries (first receipts). */
  readonly unique: number
  readonly lost: number
  readonly duplicates: number
  readonly seconds: number
  readonly msgPerSec: number
  readonly p50: number
  readonly p99: number
  readonly brokerCpu: number
  readonly generatorCpu: number
  readonly effectiveWindow: number
  readonly aheadPerPublisher: number
  readonly stalls: number
  readonly timedOut: boolean
}

/** Builds the spec of a shape so that about `deliveries` messages reach subscribers in total. */
export function shapeSpec (shape: ShapeName, qos: 0 | 1, deliveries: number, fan: number): ScenarioSpec {
  switch (shape) {
    case 'one-to-one': return { shape, qos, publishers: 1, subscribers: 1, perPublisher: deliveries }
    case 'fan-in': return { shape, qos, publishers: fan, subscribers: 1, perPublisher: Math.max(1, Math.round(deliveries / fan)) }
    case 'fan-out': return { shape, qos, publishers: 1, subscribers: fan, perPublisher: Math.max(1, Math.round(deliveries / fan)) }
  }
}

/** Connects subscribers then publishers, runs the load, counts every message by id, disconnects all. */
export async function runScenario (spec: ScenarioSpec, opts: RunOptions): Promise<ScenarioResult> {
  const topic = `bench/${opts.label}/${spec.shape}/q${spec.qos}/${Date.now()}`
  const tracker = new DeliveryTracker(spec.subscribers, spec.publishers, spec.perPublisher)
  const clients: BenchClient[] = []
  try {
    const subs = await connectMany(spec.subscribers, 50, (i) => ({ port: opts.port, clientId: `${opts.label}-sub-${i}`, protocolVersion: opts.protocolVersion }))
    clients.push(...subs)
    await Promise.all(subs.map(async (sub) => await sub.subscribe(topic, spec.qos)))
    const pubClients = await connectMany(spec.publishers, 50, (i) => ({ port: opts.port, clientId: `${opts.label}-pub-${i}`, protocolVersion: opts.protocolVersion }))
    clients.push(...pubClients)

    const aheadPerPublisher = Math.max(1, Math.floor(opts.aheadLimit / (spec.publishers * spec.subscribers)))
    const publishers = pubClients.map((client, index) => new Publisher(client, {
      index,
      topic,
      qos: spec.qos,
      count: spec.perPublisher,
      payloadBytes: opts.payloadBytes,
      window: opts.window,
      aheadLimit: aheadPerPublisher,
      delivered: () => (tracker.deliveredByPublisher[index] ?? 0) / spec.subscribers
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
        tracker.record(subIndex, stamp.publisher, stamp.seq, stamp.sentAt, performance.now())
        schedule()
      }
    })
    for (const client of pubClients) {
      client.onAck = schedule
      client.socket.on('drain', schedule)
    }
    let closedEarly = false
    for (const client of clients) client.onClose = () => { closedEarly = true }

    const cpuBroker0 = cpuSeconds(opts.brokerPid)
    const cpuGen0 = ownCpuSeconds()
    const started = performance.now()
    tracker.lastDeliveryAt = started
    pumpAll()

    const timedOut = await waitForEnd(tracker, publishers, opts, () => closedEarly)
    const end = tracker.received > 0 ? tracker.lastDeliveryAt : performance.now()
    const cpuBroker = cpuSeconds(opts.brokerPid) - cpuBroker0
    const cpuGen = ownCpuSeconds() - cpuGen0
    const seconds = Math.max(1e-6, (end - started) / 1000)
    const [p50 = Number.NaN, p99 = Number.NaN] = tracker.percentiles(50, 99)
    if (closedEarly) process.stderr.write(`  warning: a connection closed during ${opts.label} ${spec.shape} qos${spec.qos}\n`)
    return {
      spec,
      expected: tracker.expected,
      received: tracker.received,
      unique: tracker.unique,
      lost: tracker.lost,
      duplicates: tracker.duplicates,
      seconds,
      msgPerSec: tracker.unique / seconds,
      p50,
      p99,
      brokerCpu: cpuBroker / seconds,
      generatorCpu: cpuGen / seconds,
      effectiveWindow: publishers[0]?.window ?? 0,
      aheadPerPublisher,
      stalls: publishers.reduce((n, p) => n + p.stallCredit, 0),
      timedOut
    }
  } finally {
    await Promise.all(clients.map(async (c) => await c.close()))
  }
}

/**
 * Polls every 50 ms until every message arrived, or everything was sent and nothing arrived for
 * `settleMs`, or the scenario deadline. When publishers are blocked only by the end-to-end window
 * and nothing arrives for `settleMs` (lost messages), each gets one more window of credit.
 * Returns true on the deadline.
 */
async function waitForEnd (tracker: DeliveryTracker, publishers: Publisher[], opts: RunOptions, closedEarly: () => boolean): Promise<boolean> {
  const maxTicks = Math.ceil(opts.timeoutMs / 50)
  let lastProgress = performance.now()
  let lastSeen = -1
  for (let tick = 0; tick < maxTicks; tick++) {
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
    const allSent = publishers.every((p) => p.sent >= p.opts.count)
    if (allSent || closedEarly()) return false
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
