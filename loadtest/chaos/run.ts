import { randomBytes } from 'node:crypto'
import { startChaosCluster, type ChaosCluster } from './procs.js'
import { countDeliveries, recoveryTimes, type ChaosResult, type FaultRecord } from './report.js'
import { Publisher, Receiver, type PublisherSpec, type SessionEvents } from './traffic.js'

/**
 * One chaos run: Redis (AOF) + pods behind HAProxy, persistent-session publishers at QoS 1 and
 * 2 (MQTT 5 and 3.1.1), two plain subscribers and a three-member `$share` group; while traffic
 * flows, faults one after the other (SIGKILL a random pod and restart it; SIGKILL Redis once and
 * restart it from its AOF; SIGSTOP Redis once, SIGCONT after a pause), then a drain phase until
 * every acknowledged message arrived everywhere (or the drain budget ends), then the count.
 */

export type FaultKind = 'kill-pod' | 'restart-redis' | 'pause-redis'

export interface ChaosOptions {
  /** Traffic phase (faults happen inside it). */
  readonly trafficMs: number
  /** Time between the starts of two faults. */
  readonly faultEveryMs: number
  /** How long a killed pod stays down, Redis stays down, Redis stays paused. */
  readonly podDownMs: number
  readonly redisDownMs: number
  readonly redisPauseMs: number
  /** Longest wait after the traffic for every acknowledged message to arrive. */
  readonly drainMs: number
  /** Messages per second, per publisher. */
  readonly rate: number
  readonly window: number
  readonly pods: number
  /** Pods' share.claimIdleMs: how soon a group message held by a dead pod is redelivered. */
  readonly claimIdleMs: number
  readonly log: (line: string) => void
}

export const PUBLISHERS: readonly PublisherSpec[] = [
  { name: 'pub-q1-v5', qos: 1, protocolVersion: 5 },
  { name: 'pub-q2-v5', qos: 2, protocolVersion: 5 },
  { name: 'pub-q1-v311', qos: 1, protocolVersion: 4 },
  { name: 'pub-q2-v311', qos: 2, protocolVersion: 4 }
]

/** The faults of a run: every `faultEveryMs`, a pod kill, except one Redis restart (a third in) and one Redis pause (two thirds in). */
export function faultPlan (trafficMs: number, faultEveryMs: number): FaultKind[] {
  const count = Math.max(3, Math.floor(trafficMs / faultEveryMs) - 1)
  const plan: FaultKind[] = Array.from({ length: count }, () => 'kill-pod')
  plan[Math.floor(count / 3)] = 'restart-redis'
  plan[Math.floor((2 * count) / 3)] = 'pause-redis'
  return plan
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function inject (cluster: ChaosCluster, kind: FaultKind, options: ChaosOptions): Promise<FaultRecord> {
  const startedAt = Date.now()
  let target = 'redis'
  if (kind === 'kill-pod') {
    const pod = cluster.pods[Math.floor(Math.random() * cluster.pods.length)]
    if (pod === undefined) throw new Error('no pods')
    target = pod.id()
    await pod.kill()
    await sleep(options.podDownMs)
    await pod.start()
    target = `${target} → ${pod.id()}`
  } else if (kind === 'restart-redis') {
    await cluster.redis.kill()
    await sleep(options.redisDownMs)
    await cluster.redis.start()
  } else {
    cluster.redis.pause()
    await sleep(options.redisPauseMs)
    cluster.redis.resume()
  }
  return { kind, target, startedAt, endedAt: Date.now() }
}

export async function runChaos (options: ChaosOptions): Promise<ChaosResult> {
  const runId = randomBytes(3).toString('hex')
  const log = options.log
  const cluster = await startChaosCluster({
    pods: options.pods,
    env: { STARLING_SHARE_CLAIM_IDLE_MS: String(options.claimIdleMs) }
  })
  const events: SessionEvents = { reconnects: 0, sessionsLost: 0, lostSessions: [], publisherSessionsNotPresent: 0 }
  const publishers: Publisher[] = []
  const receivers: Receiver[] = []
  try {
    log(`cluster up: haproxy ${cluster.url}, redis ${cluster.redis.url} (AOF), pods ${cluster.pods.map((p) => p.id()).join(', ')}`)
    const prefix = `chaos/${runId}`
    receivers.push(await Receiver.start(cluster.url, runId, 'sub-v5', [{ id: 'sub-v5', protocolVersion: 5 }], `${prefix}/#`, events))
    receivers.push(await Receiver.start(cluster.url, runId, 'sub-v311', [{ id: 'sub-v311', protocolVersion: 4 }], `${prefix}/#`, events))
    receivers.push(await Receiver.start(cluster.url, runId, '$share/g', [
      { id: 'g-1', protocolVersion: 5 }, { id: 'g-2', protocolVersion: 5 }, { id: 'g-3', protocolVersion: 4 }
    ], `$share/g/${prefix}/#`, events))
    for (const spec of PUBLISHERS) publishers.push(await Publisher.start(cluster.url, runId, spec, prefix, events))

    const trafficStart = Date.now()
    for (const publisher of publishers) publisher.run(options.rate, options.window)
    const plan = faultPlan(options.trafficMs, options.faultEveryMs)
    log(`traffic: ${publishers.length} publishers × ${options.rate}/s for ${options.trafficMs / 1000} s; faults: ${plan.join(', ')}`)
    const faults: FaultRecord[] = []
    for (let i = 0; i < plan.length; i++) {
      const at = trafficStart + (i + 1) * options.faultEveryMs
      if (at > Date.now()) await sleep(at - Date.now())
      const kind = plan[i] as FaultKind
      const fault = await inject(cluster, kind, options)
      faults.push(fault)
      log(`fault ${i + 1}/${plan.length}: ${kind} ${fault.target} at +${((fault.startedAt - trafficStart) / 1000).toFixed(1)} s, over after ${fault.endedAt - fault.startedAt} ms`)
    }
    const trafficEnd = trafficStart + options.trafficMs
    if (trafficEnd > Date.now()) await sleep(trafficEnd - Date.now())
    for (const publisher of publishers) publisher.halt()

    // Drain: every publisher's window empties and every receiver has each acknowledged message.
    const drainStart = Date.now()
    const done = (): boolean => publishers.every((p) => p.unacknowledged() === 0) &&
      countDeliveries(publishers.map((p) => p.stats), receivers.map((r) => r.stats)).lost === 0
    while (!done() && Date.now() - drainStart < options.drainMs) await sleep(250)
    // A moment more, so late duplicates (redeliveries) are counted too.
    await sleep(1000)
    const drainedMs = Date.now() - drainStart
    log(`drained in ${drainedMs} ms`)

    const totals = countDeliveries(publishers.map((p) => p.stats), receivers.map((r) => r.stats))
    return {
      runId,
      trafficStartedAt: trafficStart,
      trafficMs: options.trafficMs,
      drainedMs,
      totals,
      faults: recoveryTimes(faults, publishers.map((p) => p.stats), receivers.map((r) => r.stats)),
      events,
      podsAlive: cluster.pods.filter((p) => p.alive()).length,
      pods: cluster.pods.length
    }
  } finally {
    await Promise.all([...publishers.map((p) => p.stop()), ...receivers.map((r) => r.stop())])
    await cluster.stop()
  }
}
