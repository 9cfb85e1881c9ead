import { performance } from 'node:perf_hooks'
import { connectMany, type BenchClient } from './clients.js'
import { runCross, type CrossResult, type CrossTuning } from './cross-scenario.js'
import { RedisStats } from './redis-stats.js'

/**
 * The wildcard-subscription curve: `count` distinct filters `wc/<run>/<i>/+` spread over the
 * pods' connections (several per SUBSCRIBE, at most `perConnection` per connection), then a
 * cross-pod QoS 1 one-to-one run on an unrelated topic, with Redis CPU and commands. mqemitter-
 * redis PSUBSCRIBEs each distinct filter, and Redis matches every PUBLISH against every pattern;
 * Starling's emitter (src/cluster/emitter.ts) SUBSCRIBEs a fixed set of channels instead (no
 * pattern: NUMPAT stays flat, `channels` counts them). Either snapshot can run (--dist).
 */
export interface WildcardOptions {
  readonly count: number
  readonly podPorts: readonly number[]
  readonly podPids: readonly number[]
  readonly redisPort: number
  readonly redisPid: number
  readonly messages: number
  readonly perConnection: number
  /**
   * Publish under the filters' own first levels (`wc/<run>/x/<n>`, matched by none of them) instead
   * of an unrelated topic: every pod holding filters then receives the messages from Redis and
   * filters them out locally (Starling's emitter), or Redis matches them against the patterns.
   */
  readonly overlap?: boolean
  readonly tune: CrossTuning
}

export interface WildcardResult {
  readonly count: number
  readonly connections: number
  /** Seconds from the first SUBSCRIBE to the last SUBACK. */
  readonly subscribeSeconds: number
  /** Redis patterns (PUBSUB NUMPAT) once subscribed, and seconds until they appeared. */
  readonly numpat: number
  readonly numpatSeconds: number
  /** Pub/sub channels of Starling's emitter (PUBSUB CHANNELS starling:v1:bus:*) once subscribed. */
  readonly channels: number
  readonly run: CrossResult
  /** Redis CPU microseconds per delivered message during the run. */
  readonly redisCpuUsPerMsg: number
}

const BATCH = 200

/** Polls NUMPAT until it is within [atLeast, atMost]; gives up after `flatMs` if it never moved from `flat` (a pattern-free emitter). */
async function waitNumpat (stats: RedisStats, atLeast: number, atMost: number, timeoutMs: number, flat?: number, flatMs = 1000): Promise<{ numpat: number, seconds: number }> {
  const started = performance.now()
  let numpat = -1
  while (performance.now() - started < timeoutMs) {
    numpat = Number(await stats.call('PUBSUB', 'NUMPAT'))
    if (numpat >= atLeast && numpat <= atMost) break
    if (numpat === flat && performance.now() - started > flatMs) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { numpat, seconds: (performance.now() - started) / 1000 }
}

export async function runWildcardStep (opts: WildcardOptions): Promise<WildcardResult> {
  const stats = new RedisStats(opts.redisPort)
  const run = Date.now().toString(36)
  const clients: BenchClient[] = []
  try {
    const baseline = Number(await stats.call('PUBSUB', 'NUMPAT'))
    const connections = Math.max(opts.podPorts.length, Math.ceil(opts.count / opts.perConnection))
    const conns = await connectMany(connections, 20, (i) => ({
      port: opts.podPorts[i % opts.podPorts.length] ?? 0,
      clientId: `wc-${run}-${i}`,
      protocolVersion: opts.tune.protocolVersion
    }))
    clients.push(...conns)
    const filters: string[][] = conns.map(() => [])
    for (let i = 0; i < opts.count; i++) filters[i % connections]?.push(`wc/${run}/${i}/+`)
    const t0 = performance.now()
    await Promise.all(conns.map(async (conn, i) => {
      const mine = filters[i] ?? []
      for (let k = 0; k < mine.length; k += BATCH) await conn.subscribe(mine.slice(k, k + BATCH), 0, 60_000)
    }))
    const subscribeSeconds = (performance.now() - t0) / 1000
    const { numpat, seconds: numpatSeconds } = await waitNumpat(stats, baseline + opts.count, Number.POSITIVE_INFINITY, 30_000, baseline)
    const channels = (await stats.call('PUBSUB', 'CHANNELS', 'starling:v1:bus:*') as unknown[]).length
    const pubPort = opts.podPorts[0] ?? 0
    const subPort = opts.podPorts[1 % opts.podPorts.length] ?? 0
    const result = await runCross({
      label: `wc${opts.count}`,
      ...(opts.overlap === true ? { topic: `wc/${run}/x/${opts.count}` } : {}),
      publishers: 1,
      subscribers: 1,
      perPublisher: opts.messages,
      qos: 1,
      pubPorts: [pubPort],
      subPorts: [subPort],
      persistent: false,
      pids: [...opts.podPids, opts.redisPid],
      redisPort: opts.redisPort
    }, opts.tune)
    await Promise.all(clients.map(async (c) => await c.close()))
    clients.length = 0
    // leave Redis as found before the next step (PUNSUBSCRIBEs are asynchronous)
    await waitNumpat(stats, 0, baseline, 30_000)
    return {
      count: opts.count,
      connections,
      subscribeSeconds,
      numpat: numpat - baseline,
      numpatSeconds,
      channels,
      run: result,
      redisCpuUsPerMsg: ((result.redis?.cpuSeconds ?? Number.NaN) * 1e6) / Math.max(1, result.unique)
    }
  } finally {
    await Promise.all(clients.map(async (c) => await c.close()))
    await stats.close()
  }
}
