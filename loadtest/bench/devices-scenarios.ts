import { loadavg } from 'node:os'
import { DeliveryLedger, readStamp, stampPayload } from '../k6/lib/payload.js'
import { closeBackend, connectBackend, publishMany, subscribe, type BackendClient } from './devices-backend.js'
import { wallNow } from './devices-conn.js'
import { WorkerPool } from './devices-pool.js'
import { deviceTopic, openBudgetMs, type Collected, type Opened, type WorkerInit } from './devices-protocol.js'
import { probeLines, probeSummary, readProbes, type Probe } from './pod-probe.js'
import { cpuSeconds, rssBytes } from './procstat.js'

/**
 * The k6 scenarios (loadtest/k6/*.ts) on this machine: connect storm, telemetry fan-in,
 * command fan-out, retained reads, reconnect storm. Devices live in worker processes; the
 * back-end clients (consumers, commander, state writer) in this one.
 */
export const SCENARIOS = ['connect-storm', 'telemetry', 'command-fanout', 'retained', 'reconnect'] as const
export type ScenarioName = typeof SCENARIOS[number]

export interface Target {
  readonly name: string
  /** Ports devices spread over (round robin by device index). */
  readonly ports: readonly number[]
  /** Broker process per port (RSS per connection per pod). */
  readonly pids: readonly number[]
  /** Most devices this target can hold (Mosquitto: its own fd limit). */
  readonly maxDevices: number
  /** Starling pods: their event-loop delay and GC pauses (pod-probe.mjs). */
  readonly probes?: readonly Probe[]
}

export interface Tuning {
  readonly devices: number
  readonly workers: number
  readonly rate: number
  readonly holdMs: number
  readonly intervalMs: number
  readonly durationMs: number
  readonly qos: 0 | 1
  readonly version: 4 | 5
  readonly keepaliveSec: number
  readonly payloadBytes: number
  readonly consumers: number
  /** Telemetry consumers in one `$share` group; false: plain subscriptions, workers split between consumers. */
  readonly shared: boolean
  readonly commandRate: number
  readonly offlineMs: number
  readonly sessionExpirySec: number
  readonly drainMs: number
  readonly connectTimeoutMs: number
  readonly maxPending: number
  readonly firstAddress: number
  readonly progressMs: number
}

export interface Row {
  target: string
  scenario: ScenarioName
  devices: number
  held: number
  failed: number
  connectRate: number
  connectP50: number
  connectP99: number
  sent: number
  delivered: number
  msgPerSec: number
  delivery: number
  p50: number
  p99: number
  /** RSS growth per connection of each broker process, KB (NaN when it held none), at the end of the run. */
  rssKb: number[]
  /** The same with the devices connected and idle (connect storm: after the hold; telemetry: before publishing). */
  rssIdleKb: number[]
  /** Broker CPU (all its processes) per successful connect during the ramp, ms. */
  cpuMsPerConnect: number
  extra: string
  load: string
  /** Telemetry on pods with a probe: worst pod's event-loop delay p99/max and longest GC pause over the publish phase, ms; GC ms per second. */
  loopP99Ms: number
  loopMaxMs: number
  gcMaxMs: number
  gcMsPerSec: number
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))
const pct = (sorted: number[], p: number): number => sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number
const sortNum = (xs: number[]): number[] => xs.sort((a, b) => a - b)
const loadNow = (): string => loadavg().map((l) => l.toFixed(1)).join(' ')

function slices (t: Tuning, target: Target, run: string): WorkerInit[] {
  const devices = Math.min(t.devices, target.maxDevices)
  const workers = Math.max(1, Math.min(t.workers, devices))
  return Array.from({ length: workers }, (_x, w) => {
    const base = Math.floor(devices / workers)
    const extra = devices % workers
    return {
      worker: w,
      localAddress: `127.0.0.${t.firstAddress + w}`,
      ports: target.ports,
      first: w * base + Math.min(w, extra),
      count: base + (w < extra ? 1 : 0),
      version: t.version,
      keepaliveSec: t.keepaliveSec,
      qos: t.qos,
      payloadBytes: t.payloadBytes,
      connectTimeoutMs: t.connectTimeoutMs,
      maxPending: t.maxPending,
      clientPrefix: `${run}-d`,
      topicBase: `dev/${run}`
    }
  })
}

/** The 5 seconds of the run with the highest latency (max and p99 of receipts in that second), times from `origin`. */
function worstSeconds (latencies: readonly number[], receivedAt: readonly number[], origin: number): string[] {
  const bySecond = new Map<number, number[]>()
  for (let i = 0; i < latencies.length; i++) {
    const second = Math.floor(((receivedAt[i] ?? origin) - origin) / 1000)
    let xs = bySecond.get(second)
    if (xs === undefined) bySecond.set(second, xs = [])
    xs.push(latencies[i] as number)
  }
  const worst = [...bySecond.entries()].map(([second, xs]) => ({ second, n: xs.length, max: Math.max(...xs), p99: pct(sortNum(xs), 99) }))
    .sort((a, b) => b.max - a.max).slice(0, 5)
  return worst.length === 0 ? [] : [`  worst seconds (receipt time from publish start): ${worst.map((w) => `@${w.second} s max ${w.max.toFixed(0)} p99 ${w.p99.toFixed(0)} ms (${w.n} msgs)`).join(', ')}`]
}

/** Runs one scenario against one target; prints progress lines through `log`. */
export async function runDevices (name: ScenarioName, target: Target, t: Tuning, log: (line: string) => void): Promise<Row> {
  const run = `${name.slice(0, 4)}${Date.now().toString(36)}`
  const inits = slices(t, target, run)
  const devices = inits.reduce((n, i) => n + i.count, 0)
  const workerOf = (index: number): number => inits.findIndex((i) => index >= i.first && index < i.first + i.count)
  const pool = await WorkerPool.start(inits)
  const backend: BackendClient[] = []
  const ledger = new DeliveryLedger()
  const latencies: number[] = []
  /** Receipt time of each entry of `latencies` (wall clock), for the worst seconds of the run. */
  const receivedAt: number[] = []
  let phase = 'start'
  const started = wallNow()
  const progress = setInterval(() => {
    const p = pool.totals()
    log(`  [${target.name} ${name} ${((wallNow() - started) / 1000).toFixed(0)} s ${phase}] connected ${p.connected.toLocaleString('en-US')}/${devices.toLocaleString('en-US')}, failed ${p.failed}, ` +
      `device sent ${p.sent}, device recv ${p.received}, backend recv ${ledger.delivered} | load ${loadNow()}`)
  }, t.progressMs)
  const row: Row = { target: target.name, scenario: name, devices, held: 0, failed: 0, connectRate: Number.NaN, connectP50: Number.NaN, connectP99: Number.NaN, sent: 0, delivered: 0, msgPerSec: Number.NaN, delivery: Number.NaN, p50: Number.NaN, p99: Number.NaN, rssKb: [], rssIdleKb: [], cpuMsPerConnect: Number.NaN, extra: '', load: '', loopP99Ms: Number.NaN, loopMaxMs: Number.NaN, gcMaxMs: Number.NaN, gcMsPerSec: Number.NaN }
  const openTimeout = openBudgetMs(Math.max(...inits.map((i) => i.count)), t.rate / inits.length, t.connectTimeoutMs) + 30_000
  let perPort: number[] = target.ports.map(() => 0)
  const openAll = async (clean: boolean, subscribe: 'none' | 'cmd' | 'state'): Promise<Opened[]> => {
    const cpu0 = target.pids.reduce((n, pid) => n + cpuSeconds(pid), 0)
    const opened = await pool.request({ cmd: 'open', rate: t.rate / inits.length, clean, sessionExpirySec: clean ? 0 : t.sessionExpirySec, subscribe }, 'opened', openTimeout)
    const connectMs = sortNum(opened.flatMap((o) => o.connectMs))
    const connected = opened.reduce((n, o) => n + o.connected, 0)
    perPort = target.ports.map((_p, i) => opened.reduce((n, o) => n + (o.perPort[i] ?? 0), 0))
    row.failed += opened.reduce((n, o) => n + o.failed, 0)
    row.connectRate = connected / Math.max(...opened.map((o) => o.seconds))
    row.connectP50 = pct(connectMs, 50)
    row.connectP99 = pct(connectMs, 99)
    const cpuMs = (target.pids.reduce((n, pid) => n + cpuSeconds(pid), 0) - cpu0) * 1000
    if (connected > 0) row.cpuMsPerConnect = cpuMs / connected
    const errors = opened.flatMap((o) => o.errors).slice(0, 3)
    if (errors.length > 0) log(`  connect failures (first ones): ${errors.join('; ')}`)
    return opened
  }
  const collect = async (): Promise<Collected[]> => await pool.request({ cmd: 'collect' }, 'collected', 30_000)
  const hold = async (ms: number, what: string): Promise<void> => {
    phase = what
    const until = wallNow() + ms
    while (wallNow() < until && pool.failure === null) await sleep(Math.min(200, ms))
  }
  try {
    await sleep(1000)
    const rssBefore = target.pids.map(rssBytes)
    let measureRss = true
    const rssPerConn = (): number[] => target.pids.map(rssBytes).map((r, i) => ((r - (rssBefore[i] ?? 0)) / 1024) / (perPort[i] ?? 0))
    if (name === 'connect-storm') {
      phase = 'ramp'
      await openAll(true, 'none')
      await hold(t.holdMs, 'hold')
      row.rssIdleKb = rssPerConn()
    } else if (name === 'telemetry') {
      const consumerPorts = target.ports
      for (let c = 0; c < t.consumers; c++) {
        const client = await connectBackend(consumerPorts[c % consumerPorts.length] as number, `${run}-consumer-${c}`, t.version)
        backend.push(client)
        client.onMessage = (p) => {
          const stamp = readStamp(p.payload)
          if (stamp !== undefined && ledger.receive(stamp) && latencies.length < 1_000_000) {
            const now = wallNow()
            latencies.push(now - stamp.sentAt)
            receivedAt.push(now)
          }
        }
        if (t.shared) await subscribe(client, `$share/${run}/dev/${run}/+/+/telemetry`, t.qos)
        else {
          for (let w = c; w < inits.length; w += t.consumers) await subscribe(client, `dev/${run}/w${w}/+/telemetry`, t.qos)
        }
      }
      row.extra = t.shared ? `${t.consumers} consumers in $share/${run}` : `${t.consumers} consumers, plain subscriptions (workers split)`
      phase = 'ramp'
      await openAll(true, 'none')
      await hold(t.holdMs, 'idle hold')
      row.rssIdleKb = rssPerConn()
      phase = 'publish'
      const probes = target.probes ?? []
      if (probes.length > 0) await readProbes(probes)
      const publishStart = wallNow()
      const publishCpu0 = target.pids.map(cpuSeconds)
      const published = await pool.request({ cmd: 'publish', intervalMs: t.intervalMs, durationMs: t.durationMs }, 'published', t.durationMs + 60_000)
      row.sent = published.reduce((n, p) => n + p.sent, 0)
      const refused = published.reduce((n, p) => n + p.refused, 0)
      if (refused > 0) row.extra += `, ${refused} publishes skipped (send quota full)`
      phase = 'drain'
      const until = wallNow() + t.drainMs
      while (wallNow() < until && ledger.delivered < row.sent) await sleep(100)
      row.delivered = ledger.delivered
      row.msgPerSec = row.delivered / (t.durationMs / 1000)
      const publishCpu = target.pids.map((pid, i) => cpuSeconds(pid) - (publishCpu0[i] ?? 0))
      const publishSeconds = (wallNow() - publishStart) / 1000
      row.extra += `, broker CPU while publishing ${publishCpu.map((c) => `${((c / publishSeconds) * 100).toFixed(0)}%`).join(' / ')} of a core, ` +
        `${((publishCpu.reduce((n, c) => n + c, 0) * 1e6) / Math.max(1, row.sent)).toFixed(0)} µs per message`
      if (probes.length > 0) {
        const windows = await readProbes(probes)
        Object.assign(row, probeSummary(windows))
        log(`  pods over the publish phase (times from its start):`)
        for (const line of probeLines(windows, publishStart)) log(line)
      }
      for (const line of worstSeconds(latencies, receivedAt, publishStart)) log(line)
      if (ledger.duplicates > 0) row.extra += `, ${ledger.duplicates} duplicates`
    } else if (name === 'command-fanout' || name === 'reconnect') {
      const reconnect = name === 'reconnect'
      phase = 'ramp'
      await openAll(!reconnect, 'cmd')
      const commander = await connectBackend(target.ports[0] as number, `${run}-commander`, t.version)
      backend.push(commander)
      const command = (i: number): { topic: string, payload: Uint8Array } => {
        const index = i % devices
        return { topic: deviceTopic(`dev/${run}`, workerOf(index), index, 'cmd'), payload: stampPayload(index, ledger.nextSeq(index), wallNow(), t.payloadBytes) }
      }
      if (!reconnect) {
        phase = 'commands'
        const count = Math.ceil((t.commandRate * t.durationMs) / 1000)
        const r = await publishMany(commander, count, t.qos, false, t.commandRate, t.durationMs + 30_000, command)
        row.sent = r.sent
      } else {
        await hold(t.holdMs, 'hold')
        row.rssKb = rssPerConn()
        measureRss = false
        phase = 'drop'
        await pool.request({ cmd: 'drop' }, 'dropped', 30_000)
        phase = 'offline: queue one command per device'
        const offlineStart = wallNow()
        const r = await publishMany(commander, devices, t.qos, false, Infinity, Math.max(t.offlineMs, 60_000), command)
        row.sent = r.sent
        const queueSeconds = (wallNow() - offlineStart) / 1000
        await hold(Math.max(0, t.offlineMs - (wallNow() - offlineStart)), 'offline')
        phase = 'return'
        const opened = await openAll(false, 'none')
        const present = opened.reduce((n, o) => n + o.sessionPresent, 0)
        row.extra = `session present ${present}/${opened.reduce((n, o) => n + o.connected, 0)}, ${r.sent} commands queued in ${queueSeconds.toFixed(1)} s (acked ${r.acked})`
      }
      phase = 'drain'
      const until = wallNow() + t.drainMs
      while (wallNow() < until && pool.totals().received < row.sent) await sleep(100)
    } else if (name === 'retained') {
      const writer = await connectBackend(target.ports[0] as number, `${run}-writer`, t.version)
      backend.push(writer)
      phase = 'store retained'
      const state = (i: number): { topic: string, payload: Uint8Array } => ({ topic: deviceTopic(`dev/${run}`, workerOf(i), i, 'state'), payload: stampPayload(i, 0, wallNow(), t.payloadBytes) })
      const stored = await publishMany(writer, devices, 1, true, Infinity, 120_000, state)
      log(`  stored ${stored.acked}/${devices} retained states`)
      phase = 'ramp + read'
      const opened = await openAll(true, 'state')
      const ok = opened.reduce((n, o) => n + o.retainedOk, 0)
      const readMs = sortNum(opened.flatMap((o) => o.retainedMs))
      row.sent = devices
      row.delivered = ok
      row.delivery = ok / devices
      row.p50 = pct(readMs, 50)
      row.p99 = pct(readMs, 99)
      row.extra = 'latency = SUBSCRIBE → retained PUBLISH'
    }
    const collected = await collect()
    row.held = collected.reduce((n, c) => n + c.held, 0)
    const drops = collected.reduce((n, c) => n + c.drops, 0)
    if (drops > 0) row.extra += `${row.extra === '' ? '' : ', '}${drops} unexpected drops`
    if (measureRss) row.rssKb = rssPerConn()
    if (name === 'command-fanout' || name === 'reconnect') {
      row.delivered = collected.reduce((n, c) => n + c.delivered, 0)
      const lat = sortNum(collected.flatMap((c) => c.latencies))
      row.p50 = pct(lat, 50)
      row.p99 = pct(lat, 99)
      if (name === 'command-fanout') row.msgPerSec = row.delivered / (t.durationMs / 1000)
      else row.extra += ', latency includes the offline time'
    }
    if (name === 'telemetry') {
      const lat = sortNum(latencies)
      row.p50 = pct(lat, 50)
      row.p99 = pct(lat, 99)
    }
    if (row.sent > 0 && name !== 'retained') row.delivery = row.delivered / row.sent
    row.load = loadNow()
    phase = 'close'
    for (const b of backend.splice(0)) closeBackend(b)
    await pool.request({ cmd: 'close', endSession: name === 'reconnect' }, 'closed', 60_000)
    if (name === 'retained') {
      // clear the states again (empty retained payload deletes [MQTT-3.3.1-10])
      const cleaner = await connectBackend(target.ports[0] as number, `${run}-cleaner`, t.version)
      await publishMany(cleaner, devices, 1, true, Infinity, 120_000, (i) => ({ topic: deviceTopic(`dev/${run}`, workerOf(i), i, 'state'), payload: new Uint8Array(0) }))
      closeBackend(cleaner)
    }
    return row
  } finally {
    clearInterval(progress)
    for (const b of backend) closeBackend(b)
    await pool.stop()
  }
}
