/**
 * Redis CPU per message on each shard of a Redis Cluster, 1 shard against 3 shards, sharded
 * pub/sub (SPUBLISH, what Starling uses on Redis Cluster) against plain PUBLISH, in one run
 * (docs/scaling.md, docs/benchmarks.md). The traffic is Starling's own bus: RedisEmitter
 * instances (src/cluster/emitter.ts) on ioredis Cluster clients made by createRedisClient, one
 * publishing "pod" and `--pods` subscribing "pods" that each listen on `devices/+/telemetry`
 * (every channel), topics `devices/<n>/telemetry` (the default 3-level routing spreads them).
 * Per master: `INFO cpu` used_cpu_sys + used_cpu_user and `INFO commandstats` before and after,
 * less what the node spent idle (cron, cluster bus) over the same time, sampled just before.
 *
 *   npm run build && node --import tsx loadtest/bench/shards-cli.ts [--messages 30000] [--pods 2] [--rounds 1]
 */
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { loadConfig } from '../../src/config/load.js'
import { RedisEmitter } from '../../src/cluster/emitter.js'
import { emitterChannel, emitterShardChannel } from '../../src/cluster/keys.js'
import { createRedisClient, redisSettings, type RedisClient } from '../../src/cluster/redis.js'
import { createLogger } from '../../src/logger.js'
import { startRedisCluster, stopRedisClusters } from './redis-cluster-start.js'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: process.env.BENCH_MESSAGES ?? '30000' },
    pods: { type: 'string', default: process.env.BENCH_PODS ?? '2' },
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '1' },
    window: { type: 'string', default: '500' },
    channels: { type: 'string', default: '64' },
    kinds: { type: 'string', default: 'sharded,plain' },
    help: { type: 'boolean', default: false }
  }
})
if (values.help === true) {
  console.log('node --import tsx loadtest/bench/shards-cli.ts [--messages N] [--pods N] [--rounds N] [--window N[,N...]] [--channels N] [--kinds sharded,plain]')
  process.exit(0)
}
const MESSAGES = Number(values.messages)
const PODS = Number(values.pods)
const ROUNDS = Number(values.rounds)
/** Publishes in flight; several values: each row is run at each (a larger window, larger pipelined batches per shard). */
const WINDOWS = values.window.split(',').map(Number)
const KINDS = values.kinds.split(',')
const CHANNELS = Number(values.channels)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * One node's counters: CPU (s), per-command calls and µs inside the command (commandstats), the
 * event loop's socket reads and writes (INFO stats), cluster bus messages sent + received.
 */
interface NodeCpu { cpu: number, calls: Map<string, number>, usec: Map<string, number>, reads: number, writes: number, bus: number }

async function sample (conns: Redis[]): Promise<NodeCpu[]> {
  return await Promise.all(conns.map(async (c) => {
    const info = await c.info('all')
    const cluster = await c.cluster('INFO') as string
    const num = (text: string, name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 'NaN')
    const calls = new Map<string, number>()
    const usec = new Map<string, number>()
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
      calls.set(m[1]!, Number(m[2]))
      usec.set(m[1]!, Number(m[3]))
    }
    return {
      cpu: num(info, 'used_cpu_sys') + num(info, 'used_cpu_user'),
      calls,
      usec,
      reads: num(info, 'total_reads_processed'),
      writes: num(info, 'total_writes_processed'),
      bus: num(cluster, 'cluster_stats_messages_sent') + num(cluster, 'cluster_stats_messages_received')
    }
  }))
}

/** Per shard, per message: µs inside the publish command, µs in all other commands (named), reads, writes, bus messages. */
interface Breakdown { publishUs: number, otherUs: number, other: string, reads: number, writes: number, bus: number }

function breakdown (before: NodeCpu, after: NodeCpu, publishCmd: string, messages: number): Breakdown {
  const others: string[] = []
  let otherUs = 0
  for (const [cmd, calls] of after.calls) {
    if (cmd === publishCmd || cmd === 'info' || cmd === 'cluster|info') continue // the sampling's own
    const n = calls - (before.calls.get(cmd) ?? 0)
    if (n <= 0) continue
    const us = (after.usec.get(cmd) ?? 0) - (before.usec.get(cmd) ?? 0)
    otherUs += us
    others.push(`${cmd}×${n}`)
  }
  return {
    publishUs: ((after.usec.get(publishCmd) ?? 0) - (before.usec.get(publishCmd) ?? 0)) / messages,
    otherUs: otherUs / messages,
    other: others.join(' ') || '–',
    reads: (after.reads - before.reads) / messages,
    writes: (after.writes - before.writes) / messages,
    bus: (after.bus - before.bus) / messages
  }
}

interface Result { shards: number, kind: 'sharded' | 'plain', window: number, perShardUs: number[], totalUs: number, idleUs: number[], delivered: number, seconds: number, publishCalls: number[], breakdown: Breakdown[] }

const IDLE_MS = 2000

async function measure (ports: number[], sharded: boolean, window: number): Promise<Result> {
  const config = loadConfig({ overrides: { nodeId: 'bench', 'redis.cluster.nodes': ports.map((p) => `127.0.0.1:${p}`), 'log.level': 'silent' } })
  const settings = redisSettings(config.redis)!
  const logger = createLogger('silent', 'bench')
  const opened: RedisClient[] = []
  const emitter = (id: string): RedisEmitter => {
    const pubConn = createRedisClient(settings, { role: 'publish', nodeId: id, logger, autoPipelining: true })
    const subConn = createRedisClient(settings, { role: 'subscribe', nodeId: id, logger, pubsub: true })
    opened.push(pubConn, subConn)
    return new RedisEmitter({
      pubConn,
      subConn,
      sharded,
      channelName: sharded ? (i) => emitterShardChannel(i, CHANNELS) : emitterChannel,
      layout: { channels: CHANNELS, levels: 3 }
    })
  }
  const publisher = emitter('pub')
  const subscribers = Array.from({ length: PODS }, (_, i) => emitter(`sub${i}`))
  let delivered = 0
  await Promise.all(subscribers.map(async (s) => await new Promise<void>((resolve) => {
    s.on('devices/+/telemetry', (_packet, done) => { delivered++; done() }, resolve)
  })))
  // warm-up: connections to every master, subscriptions settled
  for (let i = 0; i < 500; i++) await new Promise<void>((resolve) => publisher.emit({ topic: `devices/w${i}/telemetry`, payload: Buffer.alloc(64), qos: 0, retain: false, cmd: 'publish' } as never, () => resolve()))
  await sleep(500)
  delivered = 0
  const conns = ports.map((port) => new Redis({ host: '127.0.0.1', port }))
  // what each node spends doing nothing (cron, cluster bus pings), per second, to subtract
  const idleBefore = await sample(conns)
  await sleep(IDLE_MS)
  const idleAfter = await sample(conns)
  const idlePerSec = idleAfter.map((a, i) => (a.cpu - idleBefore[i]!.cpu) / (IDLE_MS / 1000))
  const before = await sample(conns)
  const started = process.hrtime.bigint()
  let sent = 0
  let acked = 0
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (sent < MESSAGES && sent - acked < window) {
        const n = sent++
        publisher.emit({ topic: `devices/${n % 10000}/telemetry`, payload: Buffer.alloc(64, n % 256), qos: 1, retain: false, cmd: 'publish', messageId: 1 } as never, () => {
          acked++
          if (acked === MESSAGES) resolve()
          else pump()
        })
      }
    }
    pump()
  })
  const deadline = Date.now() + 30000
  while (delivered < MESSAGES * PODS && Date.now() < deadline) await sleep(20)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const after = await sample(conns)
  const publishCmd = sharded ? 'spublish' : 'publish'
  const result: Result = {
    shards: ports.length,
    kind: sharded ? 'sharded' : 'plain',
    window,
    perShardUs: after.map((a, i) => Math.max(0, a.cpu - before[i]!.cpu - idlePerSec[i]! * seconds) * 1e6 / MESSAGES),
    totalUs: after.reduce((n, a, i) => n + Math.max(0, a.cpu - before[i]!.cpu - idlePerSec[i]! * seconds), 0) * 1e6 / MESSAGES,
    idleUs: idlePerSec.map((c) => c * seconds * 1e6 / MESSAGES),
    delivered,
    seconds,
    publishCalls: after.map((a, i) => (a.calls.get(publishCmd) ?? 0) - (before[i]!.calls.get(publishCmd) ?? 0)),
    breakdown: after.map((a, i) => breakdown(before[i]!, a, publishCmd, MESSAGES))
  }
  await Promise.all([publisher, ...subscribers].map(async (e) => await new Promise<void>((resolve) => e.close(resolve))))
  for (const c of [...conns, ...opened]) c.disconnect()
  return result
}

const stopAll = stopRedisClusters
process.once('SIGINT', () => { stopAll(); process.exit(130) })

async function main (): Promise<void> {
  const one = await startRedisCluster(1)
  const three = await startRedisCluster(3)
  const rows: Result[] = []
  for (let round = 0; round < ROUNDS; round++) {
    for (const window of WINDOWS) {
      for (const [ports, sharded] of [[one, true], [three, true], [one, false], [three, false]] as const) {
        if (!KINDS.includes(sharded ? 'sharded' : 'plain')) continue
        const r = await measure(ports, sharded, window)
        rows.push(r)
        console.error(`${r.shards} shard(s) ${r.kind} window ${window}: ${r.perShardUs.map((u) => u.toFixed(1)).join(' / ')} µs per message per shard, delivered ${r.delivered}/${MESSAGES * PODS} in ${r.seconds.toFixed(1)} s`)
      }
    }
  }
  const name = (r: Result): string => `${r.shards} master${r.shards > 1 ? 's' : ''}`
  const kind = (r: Result): string => r.kind === 'sharded' ? 'SPUBLISH/SSUBSCRIBE' : 'PUBLISH/SUBSCRIBE'
  console.log(`\n${MESSAGES} messages (64 B, \`devices/<n>/telemetry\`, n < 10,000), 1 publishing + ${PODS} subscribing emitters on \`devices/+/telemetry\`, ${CHANNELS} channels, 3 route levels\n`)
  console.log('| Redis Cluster | pub/sub | window | Redis CPU µs per message, each shard | busiest shard | all shards | idle CPU subtracted (µs/msg, each shard) | publish commands per shard | delivered | msg/s |')
  console.log('|---|---|--:|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${name(r)} | ${kind(r)} | ${r.window} | ${r.perShardUs.map((u) => u.toFixed(1)).join(' / ')} | ${Math.max(...r.perShardUs).toFixed(1)} | ${r.totalUs.toFixed(1)} | ${r.idleUs.map((u) => u.toFixed(2)).join(' / ')} | ${r.publishCalls.join(' / ')} | ${r.delivered}/${MESSAGES * PODS} | ${Math.round(MESSAGES / r.seconds)} |`)
  }
  if (ROUNDS > 1) {
    console.log(`\nMedians over ${ROUNDS} rounds (busiest shard, and how many times the single master's CPU per message it is below):\n`)
    console.log('| pub/sub | window | 1 master µs/msg | 3 masters, busiest shard µs/msg | 1 master ÷ busiest of 3 | 3 masters, all shards µs/msg |')
    console.log('|---|--:|--:|--:|--:|--:|')
    const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2 }
    for (const window of WINDOWS) {
      for (const k of ['sharded', 'plain'] as const) {
        const of = (shards: number): Result[] => rows.filter((r) => r.window === window && r.kind === k && r.shards === shards)
        const ones = of(1)
        const threes = of(3)
        if (ones.length === 0 || threes.length === 0) continue
        const ratios = ones.map((o, i) => o.perShardUs[0]! / Math.max(...threes[i]!.perShardUs))
        console.log(`| ${k === 'sharded' ? 'SPUBLISH/SSUBSCRIBE' : 'PUBLISH/SUBSCRIBE'} | ${window} | ${median(ones.map((r) => r.perShardUs[0]!)).toFixed(2)} | ${median(threes.map((r) => Math.max(...r.perShardUs))).toFixed(2)} | ${median(ratios).toFixed(1)}× (${ratios.map((x) => x.toFixed(1)).join(', ')}) | ${median(threes.map((r) => r.totalUs)).toFixed(2)} |`)
      }
    }
  }
  console.log('\nWhere each shard\'s CPU goes, per message of the whole run (each shard: µs inside the publish command / µs in other commands, socket reads, socket writes, cluster bus messages):\n')
  console.log('| Redis Cluster | pub/sub | window | µs in publish command | µs in other commands | other commands | reads per msg | writes per msg | bus msgs per msg |')
  console.log('|---|---|--:|---|---|---|---|---|---|')
  const each = (r: Result, f: (b: Breakdown) => string): string => r.breakdown.map(f).join(' / ')
  for (const r of rows) {
    console.log(`| ${name(r)} | ${kind(r)} | ${r.window} | ${each(r, (b) => b.publishUs.toFixed(2))} | ${each(r, (b) => b.otherUs.toFixed(3))} | ${each(r, (b) => b.other)} | ${each(r, (b) => b.reads.toFixed(3))} | ${each(r, (b) => b.writes.toFixed(3))} | ${each(r, (b) => b.bus.toFixed(3))} |`)
  }
}

main().then(() => { stopAll(); process.exit(0) }, (err: unknown) => { console.error(err); stopAll(); process.exit(1) })
