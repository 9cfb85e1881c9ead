import { performance } from 'node:perf_hooks'
import { connectMany, type BenchClient } from './clients.js'
import { driveLoad } from './drive.js'
import { cpuSeconds } from './procstat.js'
import { RedisStats, type RedisDelta } from './redis-stats.js'
import { DeliveryTracker } from './stats.js'

/**
 * One scenario where publishers and subscribers may sit on different ports (pods, HAProxy):
 * subscribers are spread round robin over `subPorts`, publishers over `pubPorts`. Counts every
 * message by id, latency, the longest gap between two deliveries at one subscriber (a stall),
 * the CPU of every broker-side process, and Redis commands when a Redis is given.
 */
export interface CrossSpec {
  readonly label: string
  readonly publishers: number
  readonly subscribers: number
  readonly perPublisher: number
  readonly qos: 0 | 1
  readonly pubPorts: readonly number[]
  readonly subPorts: readonly number[]
  /** Subscribers with a persistent session (clean start false, session expiry 60 s). */
  readonly persistent: boolean
  /** Processes whose CPU counts as "broker side" (pods, Redis, HAProxy, Mosquitto). */
  readonly pids: readonly number[]
  readonly redisPort?: number
  /** Topic to publish on (default `xbench/<label>/<run>`). */
  readonly topic?: string
  /** Subscribers join this shared-subscription group (`$share/<group>/<topic>`): each message once. */
  readonly shareGroup?: string
}

export interface CrossTuning {
  readonly protocolVersion: 4 | 5
  readonly payloadBytes: number
  readonly window: number
  readonly aheadLimit: number
  readonly timeoutMs: number
  readonly settleMs: number
}

export interface CrossResult {
  readonly spec: CrossSpec
  readonly expected: number
  readonly unique: number
  readonly lost: number
  readonly duplicates: number
  readonly seconds: number
  readonly msgPerSec: number
  readonly p50: number
  readonly p99: number
  /** Longest time (ms) one subscriber waited between two deliveries, or from the start to its first. */
  readonly maxGapMs: number
  /** Subscribers short of messages, as `index:missing` (subscriber i connected to subPorts[i % subPorts.length]). */
  readonly short: string[]
  /** CPU seconds per second of the broker-side processes, summed. */
  readonly brokerCpu: number
  readonly redis?: RedisDelta
  readonly timedOut: boolean
}

let runCounter = 0

export async function runCross (spec: CrossSpec, tune: CrossTuning): Promise<CrossResult> {
  const run = `${Date.now().toString(36)}-${runCounter++}`
  const topic = spec.topic ?? `xbench/${spec.label}/${run}`
  const shared = spec.shareGroup !== undefined
  const tracker = new DeliveryTracker(shared ? 1 : spec.subscribers, spec.publishers, spec.perPublisher)
  const clients: BenchClient[] = []
  const stats = spec.redisPort !== undefined ? new RedisStats(spec.redisPort) : undefined
  const portOf = (ports: readonly number[], i: number): number => ports[i % ports.length] ?? 0
  try {
    // one connection at a time: HAProxy's round robin then alternates pods predictably
    const subs = await connectMany(spec.subscribers, 1, (i) => ({
      port: portOf(spec.subPorts, i),
      clientId: `${spec.label}-${run}-s${i}`,
      protocolVersion: tune.protocolVersion,
      ...(spec.persistent ? { clean: false, sessionExpiry: 60 } : {})
    }))
    clients.push(...subs)
    const filter = shared ? `$share/${spec.shareGroup ?? ''}/${topic}` : topic
    await Promise.all(subs.map(async (sub) => await sub.subscribe(filter, spec.qos)))
    const pubs = await connectMany(spec.publishers, 1, (i) => ({ port: portOf(spec.pubPorts, i), clientId: `${spec.label}-${run}-p${i}`, protocolVersion: tune.protocolVersion }))
    clients.push(...pubs)
    // subscriptions reach other pods through Redis asynchronously: let them settle
    await new Promise((resolve) => setTimeout(resolve, 300))

    const lastAt = new Float64Array(spec.subscribers)
    const got = new Uint32Array(spec.subscribers)
    let maxGap = 0
    let before: Awaited<ReturnType<RedisStats['snapshot']>> | undefined
    let cpu0 = 0
    const { started, timedOut } = await driveLoad(subs, pubs, tracker, {
      topic, qos: spec.qos, perPublisher: spec.perPublisher, payloadBytes: tune.payloadBytes, window: tune.window,
      aheadLimit: tune.aheadLimit, timeoutMs: tune.timeoutMs, settleMs: tune.settleMs, shared
    }, {
      onDelivery: (subIndex, now) => {
        const gap = now - (lastAt[subIndex] ?? now)
        if (gap > maxGap) maxGap = gap
        lastAt[subIndex] = now
        got[subIndex] = (got[subIndex] ?? 0) + 1
      },
      beforeStart: async () => {
        before = await stats?.snapshot()
        cpu0 = spec.pids.reduce((n, pid) => n + cpuSeconds(pid), 0)
        lastAt.fill(performance.now())
      }
    })
    const end = tracker.received > 0 ? tracker.lastDeliveryAt : performance.now()
    const cpu = spec.pids.reduce((n, pid) => n + cpuSeconds(pid), 0) - cpu0
    const after = await stats?.snapshot()
    // a subscriber that never got everything: its last wait counts up to the end (a group's
    // members share the messages: only gaps while it runs count)
    if (!shared) for (let i = 0; i < spec.subscribers; i++) maxGap = Math.max(maxGap, tracker.unique < tracker.expected ? end - (lastAt[i] ?? end) : 0)
    const seconds = Math.max(1e-6, (end - started) / 1000)
    const short: string[] = []
    const perSub = spec.publishers * spec.perPublisher
    if (!shared) for (let i = 0; i < spec.subscribers; i++) if ((got[i] ?? 0) < perSub) short.push(`${i}:${perSub - (got[i] ?? 0)}`)
    const [p50 = Number.NaN, p99 = Number.NaN] = tracker.percentiles(50, 99)
    return {
      spec,
      expected: tracker.expected,
      unique: tracker.unique,
      lost: tracker.lost,
      duplicates: tracker.duplicates,
      seconds,
      msgPerSec: tracker.unique / seconds,
      p50,
      p99,
      maxGapMs: maxGap,
      short,
      brokerCpu: cpu / seconds,
      ...(before !== undefined && after !== undefined ? { redis: RedisStats.diff(before, after) } : {}),
      timedOut
    }
  } finally {
    await Promise.all(clients.map(async (c) => await c.close()))
    await stats?.close()
  }
}
