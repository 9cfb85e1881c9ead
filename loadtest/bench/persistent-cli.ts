import { execSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'
import { killAllChildren, launchBroker } from './brokers.js'
import { killClusterChildren, REPO, startPod, startRedis, type Proc } from './cluster-procs.js'
import { runCross, type CrossResult, type CrossTuning } from './cross-scenario.js'
import { runMain } from './run-main.js'
import { intOption, parseCliOptions } from './cli-options.js'

/** read + write system calls a process has made so far (/proc/<pid>/io); NaN when unreadable. */
function syscalls (pid: number): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8')
    return Number(/^syscr: (\d+)/m.exec(io)?.[1]) + Number(/^syscw: (\d+)/m.exec(io)?.[1])
  } catch {
    return Number.NaN
  }
}

const USAGE = `usage: node --import tsx loadtest/bench/persistent-cli.ts [options]   (build first: pods run compiled Starling)
Persistent-session subscriber cross-pod (issue 16 target 2): a publisher on pod A, a subscriber
with Clean Start 0 and Session Expiry 60 s on pod B (2 pods, one Redis), QoS 1, against Mosquitto
with the same clients, rounds alternating Mosquitto and Starling. Per round: msg/s, CPU µs per
delivered message (pods + Redis; Redis alone), Redis commands per message, longest delivery gap,
read+write system calls per message of each process (pod A / pod B / Redis; whole scenario incl. connect).
  --messages N     deliveries per scenario (default 100000)
  --rounds N       rounds (default 3); the medians are printed at the end
  --warmup N       messages of one unreported warm-up run per target and scenario first (default 20000, 0 = none)
  --protocol 4|5   MQTT version (default 4)
  --window N       QoS 1 publish window (default 100)   --ahead N  end-to-end window (default 1000)
  --dist DIR       compiled Starling (default dist)
  --clean          also run the same with a clean subscriber (reference)
  --cpu-prof       pods write --cpu-prof profiles into .tmp/persistent-prof/ (wall-clock samples)
  --perf           CPU samples of both pods and Redis with perf (pods get --perf-basic-prof):
                   .tmp/persistent-perf/round-<n>.data, read with perf report -i FILE
  --commands       print Redis commands per message by command for each Starling run
  --pod-node-args STR  node flags for both pods, space separated (e.g. "--trace-gc" or "--max-semi-space-size=32")`

function options (argv: string[]): Record<string, string | boolean> {
  return parseCliOptions(argv, USAGE, ['messages', 'warmup', 'rounds', 'protocol', 'window', 'ahead', 'dist', 'pod-node-args'], ['clean', 'cpu-prof', 'perf', 'commands'])
}

function int (o: Record<string, string | boolean>, name: string, fallback: number): number {
  return intOption(o, name, fallback, USAGE, 1)
}

interface Row { round: number, target: string, result: CrossResult, cpuUs: number, redisUs: number, podsUs: number }

const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–')
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–')
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–')
function median (xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2
}

async function main (): Promise<void> {
  const o = options(process.argv.slice(2))
  let messages = int(o, 'messages', 100_000)
  const rounds = int(o, 'rounds', 3)
  const protocol = int(o, 'protocol', 4)
  if (protocol !== 4 && protocol !== 5) throw new Error('--protocol must be 4 or 5')
  const dist = resolve(REPO, typeof o.dist === 'string' ? o.dist : 'dist')
  const tune: CrossTuning = { protocolVersion: protocol, payloadBytes: 64, window: int(o, 'window', 100), aheadLimit: int(o, 'ahead', 1000), timeoutMs: 120_000, settleMs: 8000 }
  let rev = '?'
  try { rev = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim() } catch {}
  process.stdout.write(`# persistent ${new Date().toISOString()} — ${cpus().length} cores, node ${process.version}, git ${rev}, dist ${dist}, ` +
    `${messages} deliveries, MQTT ${protocol === 4 ? '3.1.1' : '5'}, window ${tune.window}, ahead ${tune.aheadLimit}\n`)
  const stops: Array<() => Promise<void>> = []
  const rows: Row[] = []
  try {
    const receiveMaximum = Math.max(100, tune.window)
    const mosq = await launchBroker('mosquitto', { starlingReceiveMaximum: receiveMaximum })
    stops.push(mosq.stop)
    const redis = await startRedis('redis')
    stops.push(redis.stop)
    const nodeArgs = [
      ...(o['cpu-prof'] === true ? ['--cpu-prof', '--cpu-prof-dir', join(REPO, '.tmp', 'persistent-prof')] : []),
      ...(o.perf === true ? ['--perf-basic-prof-only-functions'] : []),
      ...(typeof o['pod-node-args'] === 'string' ? o['pod-node-args'].split(' ').filter((arg) => arg !== '') : [])
    ]
    const perfDir = join(REPO, '.tmp', 'persistent-perf')
    if (o.perf === true) mkdirSync(perfDir, { recursive: true })
    const pods: Proc[] = []
    for (const id of ['pod-a', 'pod-b']) {
      const pod = await startPod({ id, dist, redisUrl: `redis://127.0.0.1:${redis.port}`, receiveMaximum, maxQueued: 100_000, nodeArgs })
      pods.push(pod)
      stops.push(pod.stop)
    }
    const [a, b] = pods
    if (a === undefined || b === undefined) throw new Error('pods missing')
    const scenarios = o.clean === true ? [true, false] : [true]
    const run = async (round: number, target: string, persistent: boolean, pub: number, sub: number, pids: number[], redisPort?: number): Promise<void> => {
      const label = `${persistent ? 'persistent' : 'clean'}-${round}`
      const sys0 = pids.map(syscalls)
      const perf = o.perf === true && redisPort !== undefined && round > 0
        ? spawn('perf', ['record', '-q', '-F', '999', '-g', '-p', pids.join(','), '-o', join(perfDir, `round-${round}-${persistent ? 'persistent' : 'clean'}.data`)], { stdio: 'ignore' })
        : undefined
      const result = await runCross({ label, qos: 1, publishers: 1, subscribers: 1, perPublisher: messages, persistent, pubPorts: [pub], subPorts: [sub], pids, ...(redisPort !== undefined ? { redisPort } : {}) }, tune)
      if (perf !== undefined) {
        const exited = new Promise((resolve) => perf.once('exit', resolve))
        perf.kill('SIGINT')
        await exited
      }
      const sys = pids.map((pid, i) => (syscalls(pid) - (sys0[i] ?? 0)) / Math.max(1, result.unique))
      const total = result.brokerCpu * result.seconds
      const cpuUs = total / Math.max(1, result.unique) * 1e6
      // Redis' own INFO cpu over the measured window (the pods' CPU is from /proc, same window)
      const redisUs = result.redis !== undefined ? result.redis.cpuSeconds / Math.max(1, result.unique) * 1e6 : 0
      const row: Row = { round, target: `${target}, ${persistent ? 'persistent' : 'clean'}`, result, cpuUs, redisUs, podsUs: cpuUs - redisUs }
      rows.push(row)
      const r = result
      process.stdout.write(`[round ${round}] ${row.target}: ${f0(r.msgPerSec)} msg/s, ${f1(cpuUs)} µs/msg (Redis ${f1(redisUs)}), ` +
        `${r.unique}/${r.expected} lost ${r.lost} dup ${r.duplicates}, max gap ${f0(r.maxGapMs)} ms, p50 ${f1(r.p50)} p99 ${f1(r.p99)} ms` +
        (r.redis !== undefined ? `, Redis ${f2(r.redis.total / Math.max(1, r.unique))} cmd/msg` : '') +
        `, syscalls/msg ${sys.map(f2).join(' / ')}` + (r.timedOut ? ' TIMED OUT' : '') + '\n')
      if (o.commands === true && r.redis !== undefined) {
        process.stdout.write('    ' + r.redis.calls.map(([name, n]) => `${name} ${f2(n / Math.max(1, r.unique))}`).join(', ') + '\n')
      }
    }
    const warmup = Number(o.warmup ?? 20_000)
    if (warmup > 0) {
      // JIT and caches warm before anything is measured (rows of round 0 are dropped)
      const measured = messages
      messages = warmup
      for (const persistent of scenarios) {
        await run(0, 'mosquitto', persistent, mosq.port, mosq.port, [mosq.pid])
        await run(0, 'starling A→B', persistent, a.port, b.port, [a.pid, b.pid, redis.pid], redis.port)
      }
      messages = measured
      rows.length = 0
    }
    for (let round = 1; round <= rounds; round++) {
      for (const persistent of scenarios) {
        await run(round, 'mosquitto', persistent, mosq.port, mosq.port, [mosq.pid])
        await run(round, 'starling A→B', persistent, a.port, b.port, [a.pid, b.pid, redis.pid], redis.port)
      }
    }
    process.stdout.write('\n| target | round | msg/s | CPU µs/msg (pods + Redis) | Redis µs/msg | Redis cmd/msg | max gap ms | lost | dup | msg/s ÷ Mosquitto | CPU ÷ Mosquitto |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n')
    const ratios = new Map<string, { rate: number[], cpu: number[] }>()
    for (const row of rows) {
      const ref = rows.find((r) => r.round === row.round && r.target.startsWith('mosquitto') && r.target.endsWith(row.target.split(', ')[1] ?? ''))
      const rate = ref !== undefined ? row.result.msgPerSec / ref.result.msgPerSec : Number.NaN
      const cpu = ref !== undefined ? row.cpuUs / ref.cpuUs : Number.NaN
      const r = row.result
      process.stdout.write(`| ${row.target} | ${row.round} | ${f0(r.msgPerSec)} | ${f1(row.cpuUs)} | ${r.redis !== undefined ? f1(row.redisUs) : '–'} | ${r.redis !== undefined ? f2(r.redis.total / Math.max(1, r.unique)) : '–'} | ${f0(r.maxGapMs)} | ${r.lost} | ${r.duplicates} | ${f2(rate)} | ${f2(cpu)} |\n`)
      const m = ratios.get(row.target) ?? { rate: [], cpu: [] }
      m.rate.push(rate)
      m.cpu.push(cpu)
      ratios.set(row.target, m)
    }
    for (const [target, m] of ratios) {
      const mine = rows.filter((r) => r.target === target)
      process.stdout.write(`| ${target} | **median** | ${f0(median(mine.map((r) => r.result.msgPerSec)))} | ${f1(median(mine.map((r) => r.cpuUs)))} | ${target.startsWith('mosquitto') ? '–' : f1(median(mine.map((r) => r.redisUs)))} | ${target.startsWith('mosquitto') ? '–' : f2(median(mine.map((r) => (r.result.redis?.total ?? 0) / Math.max(1, r.result.unique))))} | ${f0(Math.max(...mine.map((r) => r.result.maxGapMs)))} | | | ${f2(median(m.rate))} | ${f2(median(m.cpu))} |\n`)
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
}

runMain('persistent', main, () => {
  killClusterChildren()
  killAllChildren()
})
