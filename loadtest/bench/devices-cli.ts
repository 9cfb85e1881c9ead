import { execSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { killAllChildren, launchBroker } from './brokers.js'
import { killClusterChildren, REPO, startPod, startRedis, type Proc } from './cluster-procs.js'
import { killWorkers } from './devices-pool.js'
import { devicesTable, rowLine } from './devices-report.js'
import { runDevices, SCENARIOS, type Row, type ScenarioName, type Target, type Tuning } from './devices-scenarios.js'
import { probeSetup } from './pod-probe.js'
import { runMain } from './run-main.js'

const USAGE = `usage: npm run bench:devices -- [options]   (build first: pods run compiled Starling from dist/)
Simulated devices (the k6 scenarios of loadtest/k6, same MQTT client code) against Starling pods
started here (redis-server + N \`starling serve\`, devices spread round robin over the pods' ports
as a load balancer would) and Mosquitto, from worker processes on source addresses 127.0.0.x.
  --scenarios LIST      ${SCENARIOS.join(',')} (default all)
  --targets LIST        starling,mosquitto (default both; Mosquitto holds at most --mosquitto-max)
  --pods N              Starling pods sharing one redis-server (default 3); --embedded: 1 pod, no Redis
  --devices N           simulated devices (default 10000)
  --workers N           worker processes, one source address each (default: 1 per 12,500 devices, at least 2)
  --rate N              connects per second over all workers (default 1000)
  --hold S              idle hold in seconds: connect storm, telemetry (before publishing; idle RSS), reconnect (default 20)
  --interval S          telemetry period per device in seconds (default 10)
  --duration S          telemetry / command load time in seconds (default 30)
  --qos 0|1             QoS of publishes and subscriptions (default 1)
  --mqtt 4|5            protocol version (default 5)
  --keepalive S         device keep alive (default 60)
  --payload N           payload bytes, >= 16 (default 64)
  --consumers N         telemetry back-end consumers (default 4)
  --plain-consumers     consumers use plain subscriptions (workers split between them) instead of one $share group
  --command-rate N      command fan-out: commands per second (default 1000)
  --offline S           reconnect storm: seconds away (default 5)
  --session-expiry S    reconnect storm: MQTT 5 Session Expiry Interval (default 300)
  --drain S             wait for messages in flight after the load (default 15)
  --connect-timeout S   CONNACK deadline per device (default 30)
  --max-pending N       handshakes in flight per worker (default 50; bounds the broker's accept queue:
                        offering more than it accepts only turns into CONNACK timeouts)
  --mosquitto-max N     devices Mosquitto gets at most (default 19000: one process, ulimit -n 20000)
  --pod-node-args STR   node flags for the pods, space separated (e.g. "--max-semi-space-size=1")
  --first-address N     first source address 127.0.0.N (default 2)
  --progress S          progress line period (default 5)
  --dist DIR            compiled Starling (default dist)
Every phase is bounded in time; loopback only.`

const BOOLS = ['embedded', 'plain-consumers', 'help']
const STRINGS = ['scenarios', 'targets', 'pods', 'devices', 'workers', 'rate', 'hold', 'interval', 'duration', 'qos', 'mqtt', 'keepalive', 'payload', 'consumers', 'command-rate',
  'offline', 'session-expiry', 'drain', 'connect-timeout', 'max-pending', 'mosquitto-max', 'pod-node-args', 'first-address', 'progress', 'dist']

function options (argv: string[]): Record<string, string | boolean> {
  const { values } = parseArgs({ args: argv, strict: true, options: { ...Object.fromEntries(STRINGS.map((n) => [n, { type: 'string' as const }])), ...Object.fromEntries(BOOLS.map((n) => [n, { type: 'boolean' as const }])) } })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    process.exit(0)
  }
  return values as Record<string, string | boolean>
}

function num (o: Record<string, string | boolean>, name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const raw = o[name]
  const n = typeof raw === 'string' ? Number(raw) : fallback
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: a number from ${min} to ${max}\n${USAGE}`)
  return n
}

async function main (): Promise<void> {
  const o = options(process.argv.slice(2))
  const scenarios = String(o.scenarios ?? SCENARIOS.join(',')).split(',') as ScenarioName[]
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}\n${USAGE}`)
  const targets = String(o.targets ?? 'starling,mosquitto').split(',')
  const devices = num(o, 'devices', 10_000)
  const embedded = o.embedded === true
  const pods = embedded ? 1 : num(o, 'pods', 3, 1, 20)
  const qos = num(o, 'qos', 1, 0, 1) as 0 | 1
  const version = num(o, 'mqtt', 5, 4, 5) as 4 | 5
  const t: Tuning = {
    devices,
    workers: num(o, 'workers', Math.max(2, Math.ceil(devices / 12_500)), 1, 200),
    rate: num(o, 'rate', 1000),
    holdMs: num(o, 'hold', 20, 0) * 1000,
    intervalMs: num(o, 'interval', 10, 0.01) * 1000,
    durationMs: num(o, 'duration', 30, 1) * 1000,
    qos,
    version,
    keepaliveSec: num(o, 'keepalive', 60, 0, 65535),
    payloadBytes: num(o, 'payload', 64, 16),
    consumers: num(o, 'consumers', 4),
    shared: o['plain-consumers'] !== true,
    commandRate: num(o, 'command-rate', 1000, 0.1),
    offlineMs: num(o, 'offline', 5, 0) * 1000,
    sessionExpirySec: num(o, 'session-expiry', 300),
    drainMs: num(o, 'drain', 15, 0) * 1000,
    connectTimeoutMs: num(o, 'connect-timeout', 30) * 1000,
    maxPending: num(o, 'max-pending', 50),
    firstAddress: num(o, 'first-address', 2, 2, 250),
    progressMs: num(o, 'progress', 5, 0.5) * 1000
  }
  if (t.firstAddress + t.workers > 255) throw new Error('--workers: not enough 127.0.0.x source addresses after --first-address')
  const dist = resolve(REPO, typeof o.dist === 'string' ? o.dist : 'dist')
  const nodeArgs = typeof o['pod-node-args'] === 'string' ? o['pod-node-args'].split(' ').filter((a) => a !== '') : []
  let rev = '?'
  try { rev = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim() } catch {}
  const log = (line: string): void => { process.stdout.write(line + '\n') }
  log(`# bench:devices ${new Date().toISOString()} — ${cpus().length} cores, node ${process.version}, git ${rev}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ` +
    `${devices} devices, ${t.workers} workers, ${embedded ? '1 pod embedded' : `${pods} pods + Redis`}${nodeArgs.length > 0 ? ` (pods: ${nodeArgs.join(' ')})` : ''}, MQTT ${version === 5 ? '5' : '3.1.1'} QoS ${qos}, rate ${t.rate}/s`)

  const stops: Array<() => Promise<void>> = []
  const rows: Row[] = []
  try {
    const list: Target[] = []
    if (targets.includes('starling')) {
      let redisUrl = ''
      if (!embedded) {
        const redis = await startRedis('redis')
        stops.push(redis.stop)
        redisUrl = `redis://127.0.0.1:${redis.port}`
      }
      // every pod reports its event-loop delay and GC pauses per scenario phase (pod-probe.mjs)
      const probes = Array.from({ length: pods }, (_x, i) => probeSetup(`pod-${i + 1}`))
      const procs: Proc[] = await Promise.all(Array.from({ length: pods }, async (_x, i) => {
        const probe = probes[i] as ReturnType<typeof probeSetup>
        const p = await startPod({ id: `pod-${i + 1}`, dist, redisUrl, receiveMaximum: 100, maxQueued: 1000, nodeArgs: [...probe.nodeArgs, ...nodeArgs], env: probe.env })
        stops.push(p.stop)
        return p
      }))
      log(`starling: ${procs.map((p) => `${p.name} pid ${p.pid} port ${p.port}`).join(', ')}`)
      list.push({
        name: embedded ? 'starling 1 pod' : `starling ${pods} pods`,
        ports: procs.map((p) => p.port),
        pids: procs.map((p) => p.pid),
        maxDevices: Infinity,
        probes: procs.map((p, i) => ({ pid: p.pid, file: (probes[i] as ReturnType<typeof probeSetup>).file }))
      })
    }
    if (targets.includes('mosquitto')) {
      const mosq = await launchBroker('mosquitto', { starlingReceiveMaximum: 100 })
      stops.push(mosq.stop)
      log(`mosquitto: pid ${mosq.pid} port ${mosq.port} (${mosq.note})`)
      list.push({ name: 'mosquitto', ports: [mosq.port], pids: [mosq.pid], maxDevices: num(o, 'mosquitto-max', 19_000) })
    }
    for (const scenario of scenarios) {
      for (const target of list) {
        log(`== ${scenario} on ${target.name}`)
        try {
          const row = await runDevices(scenario, target, t, log)
          rows.push(row)
          log(rowLine(row))
        } catch (err) {
          log(`[${target.name}] ${scenario}: FAILED: ${(err as Error).message}`)
        }
      }
    }
    log('\n' + devicesTable(rows))
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
}

const killAll = (): void => {
  killWorkers()
  killClusterChildren()
  killAllChildren()
}
runMain('bench:devices', main, killAll)
