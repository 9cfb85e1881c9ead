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
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { loadConfig } from '../../src/config/load.js'
import { RedisEmitter } from '../../src/cluster/emitter.js'
import { emitterChannel, emitterShardChannel } from '../../src/cluster/keys.js'
import { createRedisClient, redisSettings, type RedisClient } from '../../src/cluster/redis.js'
import { createLogger } from '../../src/logger.js'
import { freePort } from './cluster-procs.js'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: process.env.BENCH_MESSAGES ?? '30000' },
    pods: { type: 'string', default: process.env.BENCH_PODS ?? '2' },
    rounds: { type: 'string', default: process.env.BENCH_ROUNDS ?? '1' },
    window: { type: 'string', default: '500' },
    channels: { type: 'string', default: '64' },
    help: { type: 'boolean', default: false }
  }
})
if (values.help === true) {
  console.log('node --import tsx loadtest/bench/shards-cli.ts [--messages N] [--pods N] [--rounds N] [--window N] [--channels N]')
  process.exit(0)
}
const MESSAGES = Number(values.messages)
const PODS = Number(values.pods)
const ROUNDS = Number(values.rounds)
const WINDOW = Number(values.window)
const CHANNELS = Number(values.channels)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const procs: ChildProcess[] = []
const dirs: string[] = []

function run (command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', () => resolve(out))
  })
}

/** `shards` masters, slots split evenly (as redis-cli --cluster create), no replicas. */
async function startCluster (shards: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-shards-'))
  dirs.push(dir)
  const ports: number[] = []
  for (let i = 0; i < shards; i++) {
    const port = await freePort()
    ports.push(port)
    procs.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-announce-ip', '127.0.0.1'], { stdio: 'ignore' }))
  }
  for (const port of ports) {
    for (let i = 0; i < 100 && !(await run('redis-cli', ['-p', String(port), 'PING'])).includes('PONG'); i++) await sleep(50)
  }
  for (let i = 0; i < shards; i++) {
    const low = Math.round(i * 16384 / shards)
    const high = Math.round((i + 1) * 16384 / shards) - 1
    await run('redis-cli', ['-p', String(ports[i]), 'CLUSTER', 'ADDSLOTSRANGE', String(low), String(high)])
    if (i > 0) await run('redis-cli', ['-p', String(ports[i]), 'CLUSTER', 'MEET', '127.0.0.1', String(ports[0])])
  }
  for (let i = 0; i < 200; i++) {
    const states = await Promise.all(ports.map(async (p) => await run('redis-cli', ['-p', String(p), 'CLUSTER', 'INFO'])))
    if (states.every((s) => s.includes('cluster_state:ok') && s.includes(`cluster_known_nodes:${shards}`))) return ports
    await sleep(100)
  }
  throw new Error(`cluster of ${shards} did not form`)
}

interface NodeCpu { cpu: number, calls: Map<string, number> }

async function sample (conns: Redis[]): Promise<NodeCpu[]> {
  return await Promise.all(conns.map(async (c) => {
    const cpu = await c.info('cpu')
    const stats = await c.info('commandstats')
    const num = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 'NaN')
    const calls = new Map<string, number>()
    for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]))
    return { cpu: num('used_cpu_sys') + num('used_cpu_user'), calls }
  }))
}

interface Result { shards: number, kind: 'sharded' | 'plain', perShardUs: number[], totalUs: number, idleUs: number[], delivered: number, seconds: number, publishCalls: number[] }

const IDLE_MS = 2000

async function measure (ports: number[], sharded: boolean): Promise<Result> {
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
      while (sent < MESSAGES && sent - acked < WINDOW) {
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
    perShardUs: after.map((a, i) => Math.max(0, a.cpu - before[i]!.cpu - idlePerSec[i]! * seconds) * 1e6 / MESSAGES),
    totalUs: after.reduce((n, a, i) => n + Math.max(0, a.cpu - before[i]!.cpu - idlePerSec[i]! * seconds), 0) * 1e6 / MESSAGES,
    idleUs: idlePerSec.map((c) => c * seconds * 1e6 / MESSAGES),
    delivered,
    seconds,
    publishCalls: after.map((a, i) => (a.calls.get(publishCmd) ?? 0) - (before[i]!.calls.get(publishCmd) ?? 0))
  }
  await Promise.all([publisher, ...subscribers].map(async (e) => await new Promise<void>((resolve) => e.close(resolve))))
  for (const c of [...conns, ...opened]) c.disconnect()
  return result
}

function stopAll (): void {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
process.once('SIGINT', () => { stopAll(); process.exit(130) })

async function main (): Promise<void> {
  const one = await startCluster(1)
  const three = await startCluster(3)
  const rows: Result[] = []
  for (let round = 0; round < ROUNDS; round++) {
    for (const [ports, sharded] of [[one, true], [three, true], [one, false], [three, false]] as const) {
      const r = await measure(ports, sharded)
      rows.push(r)
      console.error(`${r.shards} shard(s) ${r.kind}: ${r.perShardUs.map((u) => u.toFixed(1)).join(' / ')} µs per message per shard, delivered ${r.delivered}/${MESSAGES * PODS} in ${r.seconds.toFixed(1)} s`)
    }
  }
  console.log(`\n${MESSAGES} messages (64 B, \`devices/<n>/telemetry\`, n < 10,000), 1 publishing + ${PODS} subscribing emitters on \`devices/+/telemetry\`, ${CHANNELS} channels, 3 route levels\n`)
  console.log('| Redis Cluster | pub/sub | Redis CPU µs per message, each shard | busiest shard | all shards | idle CPU subtracted (µs/msg, each shard) | publish commands per shard | delivered | msg/s |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.shards} master${r.shards > 1 ? 's' : ''} | ${r.kind === 'sharded' ? 'SPUBLISH/SSUBSCRIBE' : 'PUBLISH/SUBSCRIBE'} | ${r.perShardUs.map((u) => u.toFixed(1)).join(' / ')} | ${Math.max(...r.perShardUs).toFixed(1)} | ${r.totalUs.toFixed(1)} | ${r.idleUs.map((u) => u.toFixed(2)).join(' / ')} | ${r.publishCalls.join(' / ')} | ${r.delivered}/${MESSAGES * PODS} | ${Math.round(MESSAGES / r.seconds)} |`)
  }
}

main().then(() => { stopAll(); process.exit(0) }, (err: unknown) => { console.error(err); stopAll(); process.exit(1) })
