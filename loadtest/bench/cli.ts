import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { BROKER_NAMES, EXTRA_BROKER_NAMES, killAllChildren, launchBroker, type BrokerName, type RunningBroker } from './brokers.js'
import { measureIdleMemory, type IdleResult } from './idle.js'
import { PAYLOAD_HEADER_BYTES } from './payload.js'
import { idleTable, progressLine, protocolRatiosTable, ratiosTable, resultsTable, type BrokerRow } from './report.js'
import { gitCommit, loadNow, resultRow, writeResults, type ResultRow } from './results-json.js'
import { runScenario, shapeSpec, type RunOptions, type ShapeName } from './scenario.js'
import { runMain } from './run-main.js'

const USAGE = `usage: npm run bench -- [options]   (run \`npm run build\` first: Starling runs from dist/)
  --brokers LIST     starling,aedes,mosquitto (default all); starling-acl: Starling with a 5-rule ACL;
                     starling-hook: Starling with a pass-through on-publish hook (BENCH_HOOK_BATCH, _LINGER, _CONCURRENCY)
  --scenarios LIST   one-to-one,fan-in,fan-out (default all)
  --qos LIST         0,1 (default both)
  --messages N       deliveries per scenario (default 100000; fan-in/fan-out send N/fan per publisher)
  --payload BYTES    payload size, >= ${PAYLOAD_HEADER_BYTES} (default 64)
  --fan N            publishers in fan-in, subscribers in fan-out (default 100)
  --window N         unacknowledged QoS 1 publishes per publisher, capped by the server's Receive Maximum (default 100)
  --ahead N          end-to-end window: deliveries in transit over all publishers (default 1000; 1e6 = unbounded burst)
  --protocol LIST    MQTT version of the generator's clients: 4, 5 or 4,5 (default 5); with 4,5 each scenario
                     runs both on the same broker processes, back to back, and a v5 ÷ 3.1.1 table is printed
  --idle N           idle connections for the memory test, 0 skips it (default 2000)
  --warmup N         one-to-one QoS 1 messages per broker before measuring, not reported (default 20000)
  --timeout S        seconds per scenario before giving up (default 60)
  --rounds N         repeat every scenario N times, report the median msg/s run (default 1)
  --json PATH        also write the results as JSON (docs/bench-results/<name>.json; loadtest/bench/chart.ts draws them)
  --title TEXT       title of the JSON results (default "npm run bench")
Every option can also be given as BENCH_<NAME> in the environment (BENCH_MESSAGES=200000).
BENCH_CPU_PROF=starling|aedes writes a --cpu-prof profile of that broker to .tmp/bench-prof/.
BENCH_STARLING_NODE_ARGS="--heap-growing-percent=0" gives node flags to the Starling brokers.`

const SHAPES: readonly ShapeName[] = ['one-to-one', 'fan-in', 'fan-out']

interface Options {
  brokers: BrokerName[]
  shapes: ShapeName[]
  qos: Array<0 | 1>
  messages: number
  payload: number
  fan: number
  window: number
  ahead: number
  protocols: Array<4 | 5>
  idle: number
  warmup: number
  timeoutS: number
  rounds: number
  json: string
  title: string
}

function parseOptions (argv: string[]): Options {
  const names = ['brokers', 'scenarios', 'qos', 'messages', 'payload', 'fan', 'window', 'ahead', 'protocol', 'idle', 'warmup', 'timeout', 'rounds', 'json', 'title'] as const
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])), help: { type: 'boolean', short: 'h' } }
  })
  const raw = values as Record<string, string | boolean | undefined>
  if (raw.help === true) {
    process.stdout.write(USAGE + '\n')
    process.exit(0)
  }
  const get = (name: string, fallback: string): string => {
    const flag = raw[name]
    return typeof flag === 'string' ? flag : process.env[`BENCH_${name.toUpperCase()}`] ?? fallback
  }
  const num = (name: string, fallback: number, min: number): number => {
    const n = Number(get(name, String(fallback)))
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}\n${USAGE}`)
    return n
  }
  const list = <T extends string>(name: string, allowed: readonly T[], defaults: readonly T[] = allowed): T[] => {
    const items = get(name, defaults.join(',')).split(',').map((s) => s.trim()).filter(Boolean)
    for (const item of items) if (!allowed.includes(item as T)) throw new Error(`--${name}: unknown "${item}"\n${USAGE}`)
    return items as T[]
  }
  const protocols = list('protocol', ['4', '5'] as const, ['5']).map((p) => (p === '4' ? 4 : 5))
  return {
    brokers: list('brokers', [...BROKER_NAMES, ...EXTRA_BROKER_NAMES], BROKER_NAMES),
    shapes: list('scenarios', SHAPES),
    qos: list('qos', ['0', '1'] as const).map((q) => (q === '1' ? 1 : 0)),
    messages: num('messages', 100_000, 1),
    payload: num('payload', 64, PAYLOAD_HEADER_BYTES),
    fan: num('fan', 100, 1),
    window: num('window', 100, 1),
    ahead: num('ahead', 1000, 1),
    protocols,
    idle: num('idle', 2000, 0),
    warmup: num('warmup', 20_000, 0),
    timeoutS: num('timeout', 60, 1),
    rounds: num('rounds', 1, 1),
    json: get('json', ''),
    title: get('title', 'npm run bench')
  }
}

/** The soft open-files limit of this process (the brokers inherit it). */
function openFileLimit (): number {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return match?.[1] !== undefined ? Number(match[1]) : Number.POSITIVE_INFINITY
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

function runOptions (broker: RunningBroker, opts: Options, protocol: 4 | 5, label: string): RunOptions {
  return {
    port: broker.port,
    brokerPid: broker.pid,
    protocolVersion: protocol,
    payloadBytes: opts.payload,
    window: opts.window,
    aheadLimit: opts.ahead,
    timeoutMs: opts.timeoutS * 1000,
    settleMs: 2000,
    label
  }
}

/** The row with the median msg/s of one (scenario, broker) over the rounds. */
function median (rows: BrokerRow[]): BrokerRow {
  const sorted = [...rows].sort((a, b) => a.result.msgPerSec - b.result.msgPerSec)
  const mid = sorted[Math.floor((sorted.length - 1) / 2)]
  if (mid === undefined) throw new Error('no rows')
  return mid
}

/**
 * Starts every broker (each a child process), measures idle memory on the fresh processes, warms
 * each up, then runs every scenario on each broker back to back (interleaved, so load from other
 * processes on a shared machine hits all brokers alike), `rounds` times.
 */
async function main (): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  const limit = openFileLimit()
  if (opts.idle + 200 > limit) throw new Error(`--idle ${opts.idle} needs more than the open-files limit ${limit} (ulimit -n)`)
  const startedAt = new Date().toISOString()
  const loadAtStart = loadNow()
  const protocolName = (p: 4 | 5): string => (p === 5 ? '5' : '3.1.1')
  process.stdout.write(`# bench ${startedAt} — ${cpus().length} cores, node ${process.version}, load ${loadAtStart}, MQTT ${opts.protocols.map(protocolName).join(' and ')}, ` +
    `payload ${opts.payload} B, ${opts.messages} deliveries/scenario, window ${opts.window}, ahead ${opts.ahead}, fan ${opts.fan}, rounds ${opts.rounds}\n`)
  const brokers: RunningBroker[] = []
  try {
    for (const name of opts.brokers) {
      const broker = await launchBroker(name, { starlingReceiveMaximum: Math.max(100, opts.window) })
      brokers.push(broker)
      process.stdout.write(`[${name}] pid ${broker.pid} port ${broker.port}: ${broker.note}\n`)
    }
    const idleRows: Array<{ broker: BrokerName, idle: IdleResult }> = []
    for (const broker of opts.idle > 0 ? brokers : []) {
      const idle = await measureIdleMemory(broker.port, broker.pid, opts.idle, opts.protocols[0] ?? 5, broker.name)
      idleRows.push({ broker: broker.name, idle })
      process.stdout.write(`[${broker.name}] idle: ${idle.connections} connections, RSS ${idle.rssBeforeMb.toFixed(1)} → ${idle.rssAfterMb.toFixed(1)} MB, ${idle.kbPerConnection.toFixed(1)} KB/connection\n`)
    }
    for (const broker of opts.warmup > 0 ? brokers : []) {
      for (const protocol of opts.protocols) {
        await runScenario(shapeSpec('one-to-one', 1, Math.ceil(opts.warmup / opts.protocols.length), 1), runOptions(broker, opts, protocol, `${broker.name}-warmup`))
      }
    }
    const all = new Map<string, Array<BrokerRow & { protocol: 4 | 5 }>>()
    const failures: string[] = []
    for (let round = 1; round <= opts.rounds; round++) {
      for (const qos of opts.qos) {
        for (const shape of opts.shapes) {
          // protocols alternate like brokers: the same broker processes, back to back
          for (const [protocol, broker] of opts.protocols.flatMap((p) => brokers.filter((b) => b.alive()).map((b) => [p, b] as const))) {
            const prefix = (opts.rounds > 1 ? `r${round} ` : '') + (opts.protocols.length > 1 ? `v${protocolName(protocol)} ` : '')
            try {
              const result = await runScenario(shapeSpec(shape, qos, opts.messages, opts.fan), runOptions(broker, opts, protocol, `${broker.name}-r${round}`))
              const key = `${protocol}/${qos}/${shape}/${broker.name}`
              all.set(key, [...(all.get(key) ?? []), { broker: broker.name, protocol, result }])
              process.stdout.write(prefix + progressLine(broker.name, result) + '\n')
              if (!broker.alive()) failures.push(`${prefix}[${broker.name}] ${shape} qos${qos}: broker process exited during the scenario`)
            } catch (err) {
              const died = broker.alive() ? '' : ' (broker process exited; its remaining scenarios are skipped)'
              const line = `${prefix}[${broker.name}] ${shape} qos${qos}: FAILED: ${(err as Error).message}${died}`
              failures.push(line)
              process.stdout.write(line + '\n')
            }
          }
        }
      }
    }
    const medians = [...all.values()].map((runs) => ({ ...median(runs), protocol: runs[0]?.protocol ?? 5, runs }))
    for (const protocol of opts.protocols) {
      const rows = medians.filter((m) => m.protocol === protocol)
      if (opts.protocols.length > 1) process.stdout.write(`\nMQTT ${protocolName(protocol)}:\n`)
      process.stdout.write('\n' + resultsTable(rows) + '\n')
      if (opts.qos.includes(1) && opts.brokers.includes('starling')) process.stdout.write('\n' + ratiosTable(rows) + '\n')
    }
    if (opts.protocols.length > 1) process.stdout.write('\n' + protocolRatiosTable(medians) + '\n')
    if (idleRows.length > 0) process.stdout.write('\n' + idleTable(idleRows) + '\n')
    if (opts.json !== '') {
      const jsonRows: ResultRow[] = medians.map((m) => resultRow(m.broker, m.protocol, m.result, m.runs.map((r) => r.result)))
      writeResults(opts.json, {
        title: opts.title,
        command: `npm run bench -- ${process.argv.slice(2).map((a) => (/^[\w.,:/=-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ')}`,
        date: startedAt,
        commit: gitCommit(),
        load: [loadAtStart, loadNow()],
        node: process.version,
        rows: jsonRows
      })
      process.stdout.write(`\nresults written to ${opts.json}\n`)
    }
    if (failures.length > 0) process.stdout.write('\nFailures:\n' + failures.map((f) => `- ${f}`).join('\n') + '\n')
  } finally {
    await Promise.all(brokers.map(async (b) => await b.stop()))
  }
}

runMain('bench', main, killAllChildren)
