import { performance } from 'node:perf_hooks'
import { connectMany, type BenchClient } from './clients.js'
import { driveLoad } from './drive.js'
import { cpuSeconds, ownCpuSeconds } from './procstat.js'
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
  /** Extra CONNECT options per client (e.g. a token as password): role and index within it. */
  readonly credentials?: (role: 'sub' | 'pub', i: number) => { username?: string, password?: string }
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
    const subs = await connectMany(spec.subscribers, 50, (i) => ({ port: opts.port, clientId: `${opts.label}-sub-${i}`, protocolVersion: opts.protocolVersion, ...opts.credentials?.('sub', i) }))
    clients.push(...subs)
    await Promise.all(subs.map(async (sub) => await sub.subscribe(topic, spec.qos)))
    const pubClients = await connectMany(spec.publishers, 50, (i) => ({ port: opts.port, clientId: `${opts.label}-pub-${i}`, protocolVersion: opts.protocolVersion, ...opts.credentials?.('pub', i) }))
    clients.push(...pubClients)

    let closedEarly = false
    for (const client of clients) client.onClose = () => { closedEarly = true }

    let cpuBroker0 = 0
    let cpuGen0 = 0
    const { publishers, aheadPerPublisher, started, timedOut } = await driveLoad(subs, pubClients, tracker, {
      topic, qos: spec.qos, perPublisher: spec.perPublisher, payloadBytes: opts.payloadBytes, window: opts.window,
      aheadLimit: opts.aheadLimit, timeoutMs: opts.timeoutMs, settleMs: opts.settleMs
    }, {
      beforeStart: () => { cpuBroker0 = cpuSeconds(opts.brokerPid); cpuGen0 = ownCpuSeconds() },
      closedEarly: () => closedEarly
    })
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
