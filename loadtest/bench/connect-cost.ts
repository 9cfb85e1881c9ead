import { execSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { killAllChildren, launchBroker } from './brokers.js'
import { openDevice, runPool, RedisTurnCounter, type Device } from './connect-client.js'
import { killClusterChildren, REPO, startHaproxy, startPod, startRedis, type Proc } from './cluster-procs.js'
import { cpuSeconds } from './procstat.js'
import { RedisStats, type RedisSnapshot } from './redis-stats.js'
import { runMain } from './run-main.js'
import { intOption, parseCliOptions } from './cli-options.js'

const USAGE = `usage: npm run bench:connect -- [options]   (build first: pods run compiled Starling)
  --cycles N        CONNECT → CONNACK → DISCONNECT cycles per measurement (default 3000)
  --concurrency N   cycles in flight (default 20)
  --rounds N        Mosquitto / Starling pairs per kind, alternated (default 3)
  --warmup N        unmeasured cycles per kind and target first (JIT, channels; default 500)
  --kinds LIST      clean,persistent (default both; none: the storm only)
  --serial N        one-at-a-time CONNECTs for the Redis round trip count (default 40)
  --storm N         devices in the reconnect storm (default 8000; 0 = skip)
  --storm-pending N reconnects in flight during the storm (default 200)
  --cpu-prof DIR    pods run with --cpu-prof into DIR
  --dist DIR        compiled Starling (default dist)
  --dist-b DIR      a second build, A/B in one run: its own Redis and 3 pods, measured in the same
                    rounds as --dist (order alternating per round; ratios "B ÷ A" printed per kind);
                    in the storm each build storms its own pods, --dist first
  --embedded        also one embedded pod of --dist (no Redis) in the same rounds: the floor of what
                    Node + aedes + Starling cost per CONNECT before the cluster adds its part
Pods: 3, Redis standalone, log level info, anonymous default broker. MQTT 3.1.1, loopback only.`

function options (argv: string[]): Record<string, string | boolean> {
  return parseCliOptions(argv, USAGE, ['kinds', 'warmup', 'cycles', 'concurrency', 'rounds', 'serial', 'storm', 'storm-pending', 'cpu-prof', 'dist', 'dist-b'], ['embedded'])
}

function int (o: Record<string, string | boolean>, name: string, fallback: number): number {
  return intOption(o, name, fallback, USAGE, 0)
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] as number : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2
}
const cpuOf = (pids: readonly number[]): number => pids.reduce((n, pid) => n + cpuSeconds(pid), 0)
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const SOURCES = Array.from({ length: 8 }, (_v, i) => `127.0.0.${i + 2}`)
const TIMEOUT_MS = 30_000
/** The pods' heartbeat is 5 s: a killed pod is taken over within ~4 of them. */
const TAKEOVER_MS = 25_000

/** A Starling cluster under test: its pods (CONNECTs go to `a`) and its Redis' statistics. */
interface Target { readonly label: string, readonly a: Proc, readonly pods: readonly Proc[], readonly stats: RedisStats }

interface CycleResult { cpuUs: number, podAUs: number, redisCmds: number, redisCpuUs: number, perSec: number, failed: number, sessionPresent: number, top: string }

async function main (): Promise<void> {
  const o = options(process.argv.slice(2))
  const cycles = int(o, 'cycles', 3000)
  const concurrency = int(o, 'concurrency', 20)
  const rounds = int(o, 'rounds', 3)
  const warmup = int(o, 'warmup', 500)
  const serial = int(o, 'serial', 40)
  const storm = int(o, 'storm', 8000)
  const stormPending = int(o, 'storm-pending', 200)
  const distName = typeof o.dist === 'string' ? o.dist : 'dist'
  const dist = resolve(REPO, distName)
  const distB = typeof o['dist-b'] === 'string' ? resolve(REPO, o['dist-b']) : undefined
  const nodeArgs = typeof o['cpu-prof'] === 'string' ? ['--cpu-prof', '--cpu-prof-dir', resolve(o['cpu-prof'])] : []
  const embedded = o.embedded === true
  let rev = '?'
  try { rev = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim() } catch {}
  process.stdout.write(`# bench:connect ${new Date().toISOString()} git ${rev}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${cycles} cycles × ${rounds} rounds, concurrency ${concurrency}, storm ${storm}\n`)

  const stops: Array<() => Promise<void>> = []
  const add = (p: Proc): Proc => { stops.push(p.stop); return p }
  const turns = new RedisTurnCounter()
  try {
    const mosq = await launchBroker('mosquitto', { starlingReceiveMaximum: 100 })
    stops.push(mosq.stop)
    const redis = add(await startRedis('redis'))
    const relayPort = await turns.listen(redis.port)
    const podEnv = { STARLING_LIMITS_MAX_CONNECTIONS: '100000' }
    // Pod A reaches Redis through the turn counter (round trips per CONNECT); B and C directly.
    const a = add(await startPod({ id: 'cc-a', dist, redisUrl: `redis://127.0.0.1:${relayPort}`, receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs }))
    const b = add(await startPod({ id: 'cc-b', dist, redisUrl: `redis://127.0.0.1:${redis.port}`, receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs }))
    const c = add(await startPod({ id: 'cc-c', dist, redisUrl: `redis://127.0.0.1:${redis.port}`, receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs }))
    const pods = [a, b, c]
    const stats = new RedisStats(redis.port)
    stops.push(async () => await stats.close())
    process.stdout.write(`pods ${pods.map((p) => `${p.name} pid ${p.pid} :${p.port}`).join(', ')}, redis pid ${redis.pid} :${redis.port}, mosquitto pid ${mosq.pid} :${mosq.port}\n`)
    const targets: Target[] = [{ label: distB === undefined ? 'starling' : `A ${distName}`, a, pods, stats }]
    if (distB !== undefined) {
      // build B: a cluster of its own (own Redis: the two builds' pods must not be peers)
      const redisB = add(await startRedis('redis-b'))
      // its pod A through a relay too, as build A's: the two builds' pods A reach Redis alike
      const relayB = new RedisTurnCounter()
      stops.push(async () => { relayB.close() })
      const relayPortB = await relayB.listen(redisB.port)
      const podsB = [
        add(await startPod({ id: 'cb-a', dist: distB, redisUrl: `redis://127.0.0.1:${relayPortB}`, receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs })),
        add(await startPod({ id: 'cb-b', dist: distB, redisUrl: `redis://127.0.0.1:${redisB.port}`, receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs })),
        add(await startPod({ id: 'cb-c', dist: distB, redisUrl: `redis://127.0.0.1:${redisB.port}`, receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs }))
      ]
      const statsB = new RedisStats(redisB.port)
      stops.push(async () => await statsB.close())
      targets.push({ label: `B ${o['dist-b'] as string}`, a: podsB[0] as Proc, pods: podsB, stats: statsB })
      process.stdout.write(`build B pods ${podsB.map((p) => `${p.name} pid ${p.pid} :${p.port}`).join(', ')}, redis pid ${redisB.pid} :${redisB.port}\n`)
    }

    // the floor: the same build as one embedded pod (no Redis, no peers), measured in every round
    const solo = embedded ? add(await startPod({ id: 'cc-solo', dist, redisUrl: '', receiveMaximum: 100, maxQueued: 1000, env: podEnv, nodeArgs })) : undefined
    if (solo !== undefined) process.stdout.write(`embedded pod ${solo.name} pid ${solo.pid} :${solo.port}\n`)

    /** `cycles` CONNECT → CONNACK → DISCONNECT against `port`, CPU of `pids` per cycle. */
    const measure = async (port: number, pids: readonly number[], ids: (i: number) => string, clean: boolean, target: Target | undefined): Promise<CycleResult> => {
      await sleep(300)
      const starling = target !== undefined
      const aPid = target?.a.pid ?? pids[0] as number
      const before = target !== undefined ? await target.stats.snapshot() : undefined
      const cpu0 = cpuOf(pids)
      const a0 = cpuSeconds(aPid)
      let present = 0
      const t0 = performance.now()
      const errors = await runPool(cycles, concurrency, async (i) => {
        const device = await openDevice({ port, clientId: ids(i), clean, localAddress: SOURCES[i % SOURCES.length], timeoutMs: TIMEOUT_MS })
        if (device.sessionPresent) present++
        await device.disconnect()
      })
      const seconds = (performance.now() - t0) / 1000
      // the disconnect bookkeeping runs after the socket closes
      await sleep(300)
      const cpu = cpuOf(pids) - cpu0
      const after = target !== undefined ? await target.stats.snapshot() : undefined
      const delta = before !== undefined && after !== undefined ? RedisStats.diff(before, after) : undefined
      if (errors.length > 0) process.stdout.write(`  ${errors.length} failed, e.g. ${errors[0]}\n`)
      return {
        cpuUs: cpu * 1e6 / cycles,
        podAUs: starling ? (cpuSeconds(aPid) - a0) * 1e6 / cycles : Number.NaN,
        redisCmds: delta !== undefined ? delta.total / cycles : Number.NaN,
        redisCpuUs: delta !== undefined ? delta.cpuSeconds * 1e6 / cycles : Number.NaN,
        perSec: cycles / seconds,
        failed: errors.length,
        sessionPresent: present,
        top: delta !== undefined ? delta.calls.slice(0, 12).map(([name, n]) => `${name} ${(n / cycles).toFixed(2)}`).join(', ') : ''
      }
    }

    const table: string[] = ['| kind | round | target | CONNECT/s | CPU µs per CONNECT (all pods / Mosquitto) | of which pod A | Redis cmds per CONNECT | Redis CPU µs per CONNECT | session present | failed |', '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|']
    const ratios: Record<string, number[]> = {}
    const ratio = (key: string, x: number): void => { (ratios[key] ??= []).push(x) }
    const kinds = (typeof o.kinds === 'string' ? o.kinds : 'clean,persistent').split(',').filter((k): k is 'clean' | 'persistent' => k === 'clean' || k === 'persistent')
    for (const kind of kinds) {
      const clean = kind === 'clean'
      if (!clean) {
        // the sessions the measured reconnects resume: one subscription each
        for (const [port, name] of [[mosq.port, 'mosquitto'], ...(solo !== undefined ? [[solo.port, 'embedded'] as const] : []), ...targets.map((t) => [t.a.port, t.label] as const)] as const) {
          const errors = await runPool(cycles, concurrency, async (i) => {
            const d = await openDevice({ port, clientId: `p-${i}`, clean: false, subscribe: `dev/p-${i}/cmd`, localAddress: SOURCES[i % SOURCES.length], timeoutMs: TIMEOUT_MS })
            await d.disconnect()
          })
          if (errors.length > 0) process.stdout.write(`  ${name} session setup: ${errors.length} failed, e.g. ${errors[0]}\n`)
        }
      }
      for (const port of [mosq.port, ...(solo !== undefined ? [solo.port] : []), ...targets.map((t) => t.a.port)]) {
        await runPool(warmup, concurrency, async (i) => {
          const d = await openDevice({ port, clientId: clean ? `w-${i}` : `p-${i % cycles}`, clean, localAddress: SOURCES[i % SOURCES.length], timeoutMs: TIMEOUT_MS })
          await d.disconnect()
        })
      }
      for (let r = 1; r <= rounds; r++) {
        const ids = (i: number): string => clean ? `c${r}-${i}` : `p-${i}`
        const m = await measure(mosq.port, [mosq.pid], ids, clean, undefined)
        table.push(`| ${kind} | ${r} | mosquitto | ${m.perSec.toFixed(0)} | ${m.cpuUs.toFixed(0)} | – | – | – | ${clean ? '–' : m.sessionPresent} | ${m.failed} |`)
        process.stdout.write(`${table[table.length - 1] as string}\n`)
        let floor: CycleResult | undefined
        if (solo !== undefined) {
          const e = floor = await measure(solo.port, [solo.pid], ids, clean, undefined)
          ratio(`${kind} embedded`, e.cpuUs / m.cpuUs)
          table.push(`| ${kind} | ${r} | embedded pod (${distName}, no Redis) | ${e.perSec.toFixed(0)} | ${e.cpuUs.toFixed(0)} | – | – | – | ${clean ? '–' : e.sessionPresent} | ${e.failed} |`)
          process.stdout.write(`${table[table.length - 1] as string}\n`)
        }
        // with two builds, alternate which one goes first
        const order = r % 2 === 1 ? targets : [...targets].reverse()
        const results = new Map<Target, CycleResult>()
        for (const target of order) {
          const s = await measure(target.a.port, target.pods.map((p) => p.pid), ids, clean, target)
          results.set(target, s)
          ratio(targets.length > 1 ? `${kind} ${target.label}` : kind, s.cpuUs / m.cpuUs)
          ratio(`${kind} ${target.label} pod A ÷ mosquitto`, s.podAUs / m.cpuUs)
          if (floor !== undefined) ratio(`${kind} ${target.label} pod A ÷ embedded`, s.podAUs / floor.cpuUs)
          table.push(`| ${kind} | ${r} | ${target.label} 3 pods (CONNECTs to A) | ${s.perSec.toFixed(0)} | ${s.cpuUs.toFixed(0)} | ${s.podAUs.toFixed(0)} | ${s.redisCmds.toFixed(2)} | ${s.redisCpuUs.toFixed(1)} | ${clean ? '–' : s.sessionPresent} | ${s.failed} |`)
          process.stdout.write(`${table[table.length - 1] as string}\n  redis: ${s.top}\n`)
        }
        const [ta, tb] = targets
        if (ta !== undefined && tb !== undefined) {
          const ra = results.get(ta) as CycleResult
          const rb = results.get(tb) as CycleResult
          ratio(`${kind} B ÷ A all pods`, rb.cpuUs / ra.cpuUs)
          ratio(`${kind} B ÷ A pod A`, rb.podAUs / ra.podAUs)
        }
      }
    }
    process.stdout.write('\n' + table.join('\n') + '\n\n')
    for (const [kind, rs] of Object.entries(ratios)) process.stdout.write(`${kind}: ${kind.includes('÷') ? 'CPU per CONNECT' : 'Starling pods CPU / Mosquitto CPU per CONNECT'}, median of ${rs.length}: ${median(rs).toFixed(2)}× (${rs.map((x) => x.toFixed(2)).join(', ')})\n`)

    // Round trips: one CONNECT at a time to pod A, counting the relay's request turns.
    if (serial > 0) {
      for (const kind of kinds) {
        const before: number[] = []
        const total: number[] = []
        for (let i = 0; i < serial; i++) {
          const d = await openDevice({ port: a.port, clientId: kind === 'clean' ? `rt-${i}` : `p-${i}`, clean: kind === 'clean', localAddress: SOURCES[0], timeoutMs: TIMEOUT_MS })
          const start = d.sentAt
          before.push(turns.between(d.sentAt, d.ackAt))
          if (i === serial - 1) process.stdout.write(`  last ${kind} CONNECT, turns before CONNACK: ${turns.commandsBetween(d.sentAt, d.ackAt).map((c) => `[${c}]`).join(' ')}\n`)
          await d.disconnect()
          await sleep(150)
          total.push(turns.between(start, performance.now()))
        }
        // background turns (heartbeats, flushes) in as long a quiet window, for comparison
        const q0 = performance.now()
        await sleep(150 * serial / 4)
        const background = turns.between(q0, performance.now()) * 4 / serial
        process.stdout.write(`${kind} CONNECT on pod A, one at a time (${serial}): Redis round trips before CONNACK median ${median(before)} (max ${Math.max(...before)}); turns per CONNECT+DISCONNECT cycle median ${median(total)} (background in the same window ≈ ${background.toFixed(2)})\n`)
      }
    }

    if (storm > 0) await reconnectStorm(storm, stormPending, mosq, targets, add)
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
    turns.close()
  }
}

/**
 * Reconnect storm: `count` devices with a persistent session and one subscription each, all on
 * pod C; C is killed (SIGKILL) and every device reconnects (CleanSession 0) through HAProxy in
 * front of the survivors A and B; done when all have their CONNACK with Session Present, then
 * one message to each device's topic checks it is subscribed again. Mosquitto: the same
 * devices drop their links and reconnect to it. With two builds (`--dist-b`) each storms its own
 * pods, after Mosquitto, in the order given (swap `--dist` and `--dist-b` for the other order).
 */
async function reconnectStorm (count: number, pending: number, mosq: { port: number, pid: number }, targets: readonly Target[], add: (p: Proc) => Proc): Promise<void> {
  const topic = (i: number): string => `storm/d${i}/cmd`
  const lines: string[] = []
  const ratios: string[] = []
  let mosquittoSeconds = Number.NaN
  // with two builds, each storms its own 3 pods (one pod C each), one after the other
  for (const target of ['mosquitto', ...targets] as const) {
    const starling = target !== 'mosquitto'
    const [a, b, c] = starling ? target.pods : []
    if (starling && (a === undefined || b === undefined || c === undefined)) throw new Error('pods missing')
    // one HAProxy holds two descriptors per connection (ulimit -n 20000 here): one per 9,000 devices
    const balancers = !starling ? [] : await Promise.all(Array.from({ length: Math.ceil(count / 9000) }, async () => add(await startHaproxy([(a as Proc).port, (b as Proc).port], 9500))))
    const first = starling ? (c as Proc).port : mosq.port
    const devices: Device[] = []
    let errors = await runPool(count, pending, async (i) => {
      devices[i] = await openDevice({ port: first, clientId: `storm-${i}`, clean: false, subscribe: topic(i), localAddress: SOURCES[i % SOURCES.length], timeoutMs: TIMEOUT_MS })
    })
    const label = starling ? target.label : 'mosquitto'
    if (errors.length > 0) throw new Error(`${label}: ${errors.length} devices failed to connect, e.g. ${errors[0]}`)
    await sleep(1000)
    const pids = starling ? [(a as Proc).pid, (b as Proc).pid] : [mosq.pid]
    const before = starling ? await target.stats.snapshot() : undefined
    const cpu0 = cpuOf(pids)
    const t0 = performance.now()
    if (starling) {
      process.kill((c as Proc).pid, 'SIGKILL')
    } else {
      for (const d of devices) d.drop()
    }
    await Promise.all(devices.map(async (d) => await d.closed))
    const ports = starling ? balancers.map((p) => p.port) : [mosq.port]
    let present = 0
    let retries = 0
    const back: Device[] = []
    const slowest: number[] = []
    errors = await runPool(count, pending, async (i) => {
      // a device retries until it is back (the survivors may refuse while they take over the dead pod's sessions)
      for (let attempt = 0; ; attempt++) {
        try {
          const d = await openDevice({ port: ports[i % ports.length] as number, clientId: `storm-${i}`, clean: false, localAddress: SOURCES[i % SOURCES.length], timeoutMs: TIMEOUT_MS })
          if (d.sessionPresent) present++
          slowest.push(d.connackMs)
          back[i] = d
          return
        } catch (err) {
          retries++
          if (retries <= 3) process.stdout.write(`  ${label} retry: ${(err as Error).message}\n`)
          if (attempt >= 5) throw err
          await sleep(200)
        }
      }
    })
    const seconds = (performance.now() - t0) / 1000
    const cpuBack = cpuOf(pids) - cpu0
    // Starling: CPU and Redis commands until the dead pod's take-over is done too (its sweeps run
    // ~3–4 heartbeats after the kill: inside a long storm, after a short one), so two builds'
    // figures cover the same work whatever their speed
    if (starling) await sleep(Math.max(0, t0 + TAKEOVER_MS - performance.now()))
    const cpu = cpuOf(pids) - cpu0
    const delta = starling ? RedisStats.diff(before as RedisSnapshot, await target.stats.snapshot()) : undefined
    // subscribed again: one QoS 1 message to each device's topic, from a publisher on A (or Mosquitto)
    let received = 0
    for (const d of back) d?.onPublish(() => { received++ })
    const pub = await openDevice({ port: starling ? (a as Proc).port : mosq.port, clientId: `storm-pub-${label}`, clean: true, timeoutMs: TIMEOUT_MS })
    await pub.publishEach(count, topic)
    const deadline = Date.now() + 30_000
    while (received < back.filter(Boolean).length && Date.now() < deadline) await sleep(100)
    const line = `| ${starling ? `starling${targets.length > 1 ? ` ${target.label}` : ''}: pod C killed, reconnect via HAProxy to A, B` : 'mosquitto (same devices drop and reconnect)'} | ${count} | ${back.filter(Boolean).length} | ${errors.length} | ${present} | ${received} | ${seconds.toFixed(2)} | ${(count / seconds).toFixed(0)} | ${(cpuBack * 1e6 / count).toFixed(0)} | ${starling ? (cpu * 1e6 / count).toFixed(0) : '–'} | ${delta !== undefined ? (delta.total / count).toFixed(2) : '–'} |`
    lines.push(line)
    if (starling) ratios.push(`${label}: ${(seconds / mosquittoSeconds).toFixed(2)}× Mosquitto's time`)
    else mosquittoSeconds = seconds
    process.stdout.write(`  ${label}: ${retries} retries, CONNACK ms median ${median(slowest).toFixed(1)}, max ${Math.max(...slowest).toFixed(0)}\n`)
    if (delta !== undefined) process.stdout.write(`  ${label} redis per reconnect: ${delta.calls.slice(0, 16).map(([name, n]) => `${name} ${(n / count).toFixed(2)}`).join(', ')}; Redis CPU µs per reconnect ${(delta.cpuSeconds * 1e6 / count).toFixed(1)}\n`)
    process.stdout.write(line + '\n')
    await pub.disconnect()
    await Promise.all(back.filter(Boolean).map(async (d) => await d.disconnect()))
  }
  process.stdout.write('\n| reconnect storm | devices | back | failed | session present | subscribed (message received) | seconds (drop → last CONNACK) | reconnects/s | CPU µs per reconnect (survivors / Mosquitto), drop → last CONNACK | survivors CPU µs per reconnect, kill → ' + String(TAKEOVER_MS / 1000) + ' s (the dead pod\'s take-over included) | Redis cmds per reconnect (same window) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n' + lines.join('\n') + '\n' + ratios.join('; ') + '\n')
}

const killAll = (): void => {
  killClusterChildren()
  killAllChildren()
}
runMain('bench:connect', main, killAll)
