/**
 * MQTT fuzzing against a real Starling node: random and mutated MQTT 3.1.1/5 packets
 * (generate.ts) over real loopback sockets, with well-behaved QoS 1 clients in the same run
 * (witness.ts). The node runs in this process (embedded mode, or cluster mode with
 * `--redis-url`), so any exception it lets escape ends the run as a crash.
 *
 *   npm run fuzz -- --packets 1000000 --seconds 600 [--seed N] [--concurrency 32] [--redis-url URL]
 *   npm run fuzz -- --seed N --only I      (replays connection I of seed N alone)
 *
 * Exit 0 when: no crash (uncaught exception or unhandled rejection), the witness lost nothing
 * and none of its connections closed, and the heap after the run and a GC is within
 * `--heap-bound-mb` of the heap after the warm-up (run with `node --expose-gc`; without it the
 * memory check is skipped and reported so). The last stdout line is the report as JSON.
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'
import { planConnection, runConnection, type ConnectionKind } from './connection.js'
import { buildPools } from './generate.js'
import { newSeed, Random } from './random.js'
import { Witness, type WitnessReport } from './witness.js'

const { values } = parseArgs({
  options: {
    packets: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    'redis-url': { type: 'string' },
    only: { type: 'string' },
    'heap-bound-mb': { type: 'string', default: '24' },
    'linger-ms': { type: 'string', default: '20' },
    'warmup-connections': { type: 'string', default: '400' }
  }
})

const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : newSeed()
const targetPackets = Number(values.packets)
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const lingerMs = Number(values['linger-ms'])
const heapBoundBytes = Number(values['heap-bound-mb']) * 1024 * 1024
const warmupConnections = Number(values['warmup-connections'])
const gc = (globalThis as { gc?: () => void }).gc

process.stderr.write(`fuzz: seed ${seed} (replay: npm run fuzz -- --seed ${seed} --packets ${targetPackets})\n`)

const inFlight = new Set<number>()
const crashes: string[] = []
const crash = (what: string) => (err: unknown): void => {
  const text = err instanceof Error ? err.stack ?? err.message : String(err)
  crashes.push(`${what}: ${text}`)
  process.stderr.write(`fuzz: ${what} with seed ${seed}, connections in flight ${[...inFlight].join(',')} (replay one with --seed ${seed} --only <index>)\n${text}\n`)
}
process.on('uncaughtException', crash('uncaught exception'))
process.on('unhandledRejection', crash('unhandled rejection'))

const config = loadConfig({
  overrides: {
    nodeId: 'fuzz-node',
    'mqtt.host': '127.0.0.1',
    'mqtt.port': 0,
    'ws.enabled': false,
    'http.host': '127.0.0.1',
    'http.port': 0,
    'log.level': 'silent',
    drainSeconds: 2,
    // bounded stored state (see generate.ts): sessions' queues short, CONNECT-less sockets cut early
    'limits.maxQueuedMessages': 50,
    'limits.connectTimeoutMs': 2000,
    // shared groups keep up to share.maxLength messages for share.maxAgeMs after their last
    // member left (bounds of their own, README "Shared subscriptions"): short here, so what is
    // left after the run is what the broker failed to free
    'share.maxLength': 100,
    'share.maxAgeMs': 2000,
    ...(values['redis-url'] !== undefined ? { 'redis.url': values['redis-url'] } : {})
  }
})
const node = await StarlingNode.start(config, { logger: createLogger('silent', 'fuzz-node'), metrics: createMetrics('fuzz-node', false) })
const port = node.port('mqtt')
buildPools(new Random(seed))

interface Tally { connections: number, packets: number, bytes: number, closedByBroker: number, byKind: Record<ConnectionKind, number> }
const tally: Tally = { connections: 0, packets: 0, bytes: 0, closedByBroker: 0, byKind: { session: 0, 'mutated-connect': 0, 'no-connect': 0, 'wrong-version': 0, garbage: 0 } }

async function runOne (index: number): Promise<void> {
  const plan = planConnection(seed, index)
  inFlight.add(index)
  tally.connections++
  tally.packets += plan.packets
  tally.byKind[plan.kind]++
  for (const w of plan.writes) tally.bytes += w.length
  const outcome = await runConnection(port, plan, lingerMs)
  if (outcome.closedByBroker) tally.closedByBroker++
  inFlight.delete(index)
}

let nextIndex = 0
async function phase (until: () => boolean): Promise<void> {
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (!until() && crashes.length === 0) await runOne(nextIndex++)
  }))
}

async function settle (): Promise<void> {
  // the fuzz connections are gone from the broker (the witness's two stay)
  const deadline = Date.now() + 10_000
  while (node.broker.connectedClients > 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 200))
}

/** Past share.maxAgeMs (and the sweep after it), so idle groups are gone before the heap is read. */
async function groupsForgotten (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, config.share.maxAgeMs + config.share.sweepMs + 500))
}

async function heapAfterGc (): Promise<number | undefined> {
  if (gc === undefined) return undefined
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return process.memoryUsage().heapUsed
}

/** What the broker saw, from its own metrics. */
async function brokerCounts (): Promise<Record<string, number>> {
  const sum = async (name: string, by?: string): Promise<Record<string, number>> => {
    const metric = node.metrics.registry.getSingleMetric(name)
    const out: Record<string, number> = {}
    for (const v of (await metric?.get())?.values ?? []) {
      const key = by === undefined ? name : `${name}{${String(v.labels[by])}}`
      out[key] = (out[key] ?? 0) + v.value
    }
    return out
  }
  const store = await node.metrics.registry.getMetricsAsJSON()
  const gauge = (name: string): Record<string, number> => {
    const metric = store.find((m) => m.name === name)
    return metric === undefined ? {} : { [name]: metric.values.reduce((total, v) => total + v.value, 0) }
  }
  return {
    ...gauge('starling_sessions'),
    ...gauge('starling_retained_messages'),
    ...gauge('starling_offline_queue_messages'),
    ...gauge('starling_subscriptions'),
    ...await sum('starling_connections_total'),
    ...await sum('starling_messages_received_total'),
    ...await sum('starling_messages_sent_total'),
    ...await sum('starling_bytes_received_total'),
    ...await sum('starling_client_errors_total', 'kind'),
    ...await sum('starling_server_disconnects_total', 'reason')
  }
}

const started = Date.now()
const stopAt = started + seconds * 1000
let witness: WitnessReport | undefined
let heapBaseline: number | undefined
let heapAfter: number | undefined
let rssBaseline = 0
/** The broker's connection count and client list once the fuzz connections are gone (the witness's two remain). */
let registeredAfter: { counted: number, listed: number } | undefined
if (values.only !== undefined) {
  await runOne(Number(values.only))
} else {
  const w = new Witness()
  await w.start(`mqtt://127.0.0.1:${port}`, 5)
  await phase(() => nextIndex >= warmupConnections || tally.packets >= targetPackets || Date.now() >= stopAt)
  await settle()
  await groupsForgotten()
  heapBaseline = await heapAfterGc()
  rssBaseline = process.memoryUsage().rss
  await phase(() => tally.packets >= targetPackets || Date.now() >= stopAt)
  await settle()
  registeredAfter = { counted: node.broker.connectedClients, listed: Object.keys(node.broker.clients).length }
  witness = await w.finish(10_000)
  await groupsForgotten()
  heapAfter = await heapAfterGc()
}
const elapsedMs = Date.now() - started
const rssAfter = process.memoryUsage().rss
const broker = await brokerCounts()
await node.close()

const heapGrowth = heapBaseline !== undefined && heapAfter !== undefined ? heapAfter - heapBaseline : undefined
const problems: string[] = [...crashes]
if (witness !== undefined && witness.lost > 0) problems.push(`witness lost ${witness.lost} acknowledged messages`)
if (witness !== undefined && witness.unexpectedCloses > 0) problems.push(`witness connections closed ${witness.unexpectedCloses} times`)
if (registeredAfter !== undefined && (registeredAfter.counted !== 2 || registeredAfter.listed !== 2)) problems.push(`after the run the broker counts ${registeredAfter.counted} connections and lists ${registeredAfter.listed} clients; only the witness's 2 are open`)
if (heapGrowth !== undefined && heapGrowth > heapBoundBytes) problems.push(`heap grew ${(heapGrowth / 1048576).toFixed(1)} MiB after the run and a GC (bound ${values['heap-bound-mb']} MiB)`)
if (values.only === undefined && tally.packets < targetPackets && Date.now() < stopAt) problems.push('stopped early')

const report = {
  seed,
  packets: tally.packets,
  connections: tally.connections,
  bytes: tally.bytes,
  seconds: Number((elapsedMs / 1000).toFixed(1)),
  packetsPerSecond: Math.round(tally.packets / (elapsedMs / 1000)),
  closedByBroker: tally.closedByBroker,
  byKind: tally.byKind,
  witness,
  registeredAfter,
  broker,
  memory: {
    gcExposed: gc !== undefined,
    heapBaselineMiB: heapBaseline === undefined ? null : Number((heapBaseline / 1048576).toFixed(1)),
    heapAfterMiB: heapAfter === undefined ? null : Number((heapAfter / 1048576).toFixed(1)),
    heapGrowthMiB: heapGrowth === undefined ? null : Number((heapGrowth / 1048576).toFixed(2)),
    rssBaselineMiB: Number((rssBaseline / 1048576).toFixed(1)),
    rssAfterMiB: Number((rssAfter / 1048576).toFixed(1))
  },
  problems
}
process.stdout.write(JSON.stringify(report) + '\n')
process.exit(problems.length === 0 ? 0 : 1)
