import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { killAllChildren, launchBroker, type RunningBroker } from './brokers.js'
import { BenchClient } from './clients.js'
import { cpuSeconds } from './procstat.js'
import { runMain } from './run-main.js'
import { runScenario, shapeSpec, type ScenarioResult, type ShapeName } from './scenario.js'

const USAGE = `usage: npm run bench:tenancy -- [options]   (run \`npm run build\` first)
What tenancy and tokens cost, on one \`starling serve\` (embedded) in the same run:
  connect-token vs connect-anonymous: CONNECT → CONNACK → DISCONNECT cycles per second, MQTT 5,
    token (a TOKEN broker's Ed25519 JWT as password: each loop reconnecting with its own few
    tokens, and a token never used before on every CONNECT) vs anonymous (the default NONE broker)
  publish-tenant vs publish-default: the \`npm run bench\` scenarios with every client holding a
    token of a TOKEN broker (its mounted topic space) vs the anonymous default broker
Each round runs the variants back to back (rotating which goes first); the ratio per round
and its median are printed.
  --parts LIST       connect,publish (default both)
  --rounds N         rounds (default 5)
  --connects N       CONNECTs per measurement (default 3000)
  --concurrency N    CONNECT loops in parallel (default 20)
  --scenarios LIST   publish shapes: one-to-one,fan-in,fan-out (default one-to-one,fan-out)
  --qos LIST         0,1 (default 1)
  --messages N       deliveries per publish scenario (default 100000)
  --fan N            publishers in fan-in, subscribers in fan-out (default 100)`

const ADMIN_TOKEN = 'bench-admin-token-long-enough'
const SECRET_KEY = 'bench secret key, at least thirty-two characters'

interface Options { parts: string[], rounds: number, connects: number, concurrency: number, shapes: ShapeName[], qos: Array<0 | 1>, messages: number, fan: number }

function parseOptions (argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      parts: { type: 'string' }, rounds: { type: 'string' }, connects: { type: 'string' }, concurrency: { type: 'string' },
      scenarios: { type: 'string' }, qos: { type: 'string' }, messages: { type: 'string' }, fan: { type: 'string' }, help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    process.exit(0)
  }
  const num = (v: string | undefined, fallback: number): number => {
    const n = Number(v ?? fallback)
    if (!Number.isInteger(n) || n < 1) throw new Error(`bad number "${String(v)}"\n${USAGE}`)
    return n
  }
  const list = (v: string | undefined, fallback: string, allowed: readonly string[]): string[] => {
    const items = (v ?? fallback).split(',').map((s) => s.trim()).filter(Boolean)
    for (const item of items) if (!allowed.includes(item)) throw new Error(`unknown "${item}"\n${USAGE}`)
    return items
  }
  return {
    parts: list(values.parts, 'connect,publish', ['connect', 'publish']),
    rounds: num(values.rounds, 5),
    connects: num(values.connects, 3000),
    concurrency: num(values.concurrency, 20),
    shapes: list(values.scenarios, 'one-to-one,fan-out', ['one-to-one', 'fan-in', 'fan-out']) as ShapeName[],
    qos: list(values.qos, '1', ['0', '1']).map((q) => (q === '1' ? 1 : 0)),
    messages: num(values.messages, 100_000),
    fan: num(values.fan, 100)
  }
}

/** One management API call against the pod; returns `result`. */
export async function api (broker: RunningBroker, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${broker.httpPort ?? 0}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
  const json = await res.json() as { result: unknown, errors: unknown }
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.errors)}`)
  return json.result
}

/** `count` tokens of the broker (no expiry, no topic ACL), 100 per call. */
export async function issueTokens (broker: RunningBroker, count: number): Promise<string[]> {
  const tokens: string[] = []
  while (tokens.length < count) {
    const n = Math.min(100, count - tokens.length)
    const issued = await api(broker, 'POST', `/namespaces/bench/brokers/tenant/credentials?number=${n}`) as Record<string, string>
    tokens.push(...Object.values(issued))
  }
  return tokens
}

interface ConnectResult { readonly connects: number, readonly perSecond: number, readonly brokerCpuUsPerConnect: number }

/**
 * `total` cycles of CONNECT → CONNACK → DISCONNECT → socket closed, `concurrency` at a time. The
 * password of a loop's n-th cycle, i-th overall, is `password(loop, n, i)` (undefined: anonymous);
 * a loop's tokens are its own, so no two live connections share a client id (no takeovers).
 */
export async function connectRate (broker: RunningBroker, concurrency: number, total: number, password: (loop: number, n: number, i: number) => string | undefined): Promise<ConnectResult> {
  const cpu0 = cpuSeconds(broker.pid)
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async (_, loop) => {
    for (let n = 0; next < total; n++) {
      const pw = password(loop, n, next++)
      const client = await BenchClient.connect({ port: broker.port, clientId: `c-${loop}`, protocolVersion: 5, ...(pw !== undefined ? { username: '', password: pw } : {}) })
      await client.close()
    }
  }))
  const elapsed = (performance.now() - started) / 1000
  return { connects: total, perSecond: total / elapsed, brokerCpuUsPerConnect: ((cpuSeconds(broker.pid) - cpu0) * 1e6) / total }
}

function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

const f0 = (n: number): string => Math.round(n).toLocaleString('en-US')
const f2 = (n: number): string => n.toFixed(2)

/** Runs each of `runs` once per round, the first one rotating, so a noisy moment hits each alike. */
async function interleave<T> (rounds: number, runs: ReadonlyArray<() => Promise<T>>): Promise<T[][]> {
  const out: T[][] = []
  for (let round = 0; round < rounds; round++) {
    const results: T[] = new Array<T>(runs.length)
    for (let k = 0; k < runs.length; k++) {
      const index = (round + k) % runs.length
      results[index] = await (runs[index] as () => Promise<T>)()
    }
    out.push(results)
  }
  return out
}

async function pairs<T> (rounds: number, a: () => Promise<T>, b: () => Promise<T>): Promise<Array<[T, T]>> {
  return (await interleave(rounds, [a, b])) as Array<[T, T]>
}

async function connectPart (broker: RunningBroker, opts: Options): Promise<string> {
  const perLoop = 5
  const reused = await issueTokens(broker, opts.concurrency * perLoop)
  const again = (loop: number, n: number): string => reused[loop * perLoop + (n % perLoop)] as string
  const anonymous = (): undefined => undefined
  // Warm-up: every path once (JIT, the broker's caches).
  await connectRate(broker, opts.concurrency, 500, again)
  await connectRate(broker, opts.concurrency, 500, anonymous)
  const rows = await interleave(opts.rounds, [
    async () => await connectRate(broker, opts.concurrency, opts.connects, again),
    async () => {
      // A token never seen before on every CONNECT: the signature is checked every time.
      const fresh = await issueTokens(broker, opts.connects)
      return await connectRate(broker, opts.concurrency, opts.connects, (_loop, _n, i) => fresh[i])
    },
    async () => await connectRate(broker, opts.concurrency, opts.connects, anonymous)
  ]) as Array<[ConnectResult, ConnectResult, ConnectResult]>
  const lines = [
    '| round | connect-token /s (reconnect) | connect-token /s (first use) | connect-anonymous /s | ratio reconnect | ratio first use | µs CPU/connect reconnect | first use | anonymous | CPU ratio reconnect | CPU ratio first use |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|'
  ]
  rows.forEach(([tok, first, anon], i) => {
    process.stdout.write(`r${i + 1} connect: token reconnect ${f0(tok.perSecond)}/s (${f0(tok.brokerCpuUsPerConnect)} µs), token first use ${f0(first.perSecond)}/s (${f0(first.brokerCpuUsPerConnect)} µs), ` +
      `anonymous ${f0(anon.perSecond)}/s (${f0(anon.brokerCpuUsPerConnect)} µs), ratios ${f2(tok.perSecond / anon.perSecond)} / ${f2(first.perSecond / anon.perSecond)}\n`)
    lines.push(`| ${i + 1} | ${f0(tok.perSecond)} | ${f0(first.perSecond)} | ${f0(anon.perSecond)} | ${f2(tok.perSecond / anon.perSecond)} | ${f2(first.perSecond / anon.perSecond)} | ${f0(tok.brokerCpuUsPerConnect)} | ${f0(first.brokerCpuUsPerConnect)} | ${f0(anon.brokerCpuUsPerConnect)} | ${f2(anon.brokerCpuUsPerConnect / tok.brokerCpuUsPerConnect)} | ${f2(anon.brokerCpuUsPerConnect / first.brokerCpuUsPerConnect)} |`)
  })
  const med = (pick: (r: [ConnectResult, ConnectResult, ConnectResult]) => number): number => median(rows.map(pick))
  lines.push(`| **median** | ${f0(med(([t]) => t.perSecond))} | ${f0(med(([, f]) => f.perSecond))} | ${f0(med(([, , a]) => a.perSecond))} | **${f2(med(([t, , a]) => t.perSecond / a.perSecond))}** | ` +
    `**${f2(med(([, f, a]) => f.perSecond / a.perSecond))}** | ${f0(med(([t]) => t.brokerCpuUsPerConnect))} | ${f0(med(([, f]) => f.brokerCpuUsPerConnect))} | ${f0(med(([, , a]) => a.brokerCpuUsPerConnect))} | ` +
    `**${f2(med(([t, , a]) => a.brokerCpuUsPerConnect / t.brokerCpuUsPerConnect))}** | **${f2(med(([, f, a]) => a.brokerCpuUsPerConnect / f.brokerCpuUsPerConnect))}** |`)
  return lines.join('\n')
}

async function publishPart (broker: RunningBroker, opts: Options): Promise<string> {
  const subTokens = await issueTokens(broker, opts.fan)
  const pubTokens = await issueTokens(broker, opts.fan)
  const base = { port: broker.port, brokerPid: broker.pid, protocolVersion: 5 as const, payloadBytes: 64, window: 100, aheadLimit: 1000, timeoutMs: 60_000, settleMs: 2000 }
  const tenant = { ...base, credentials: (role: 'sub' | 'pub', i: number) => ({ username: '', password: (role === 'sub' ? subTokens : pubTokens)[i] as string }) }
  await runScenario(shapeSpec('one-to-one', 1, 20_000, 1), { ...base, label: 'warmup-default' })
  await runScenario(shapeSpec('one-to-one', 1, 20_000, 1), { ...tenant, label: 'warmup-tenant' })
  const lines = [
    '| scenario | round | publish-tenant msg/s | publish-default msg/s | ratio | tenant µs CPU/msg | default µs CPU/msg | CPU ratio (default/tenant) | lost |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|'
  ]
  const us = (r: ScenarioResult): number => (r.brokerCpu * r.seconds * 1e6) / Math.max(1, r.unique)
  for (const qos of opts.qos) {
    for (const shape of opts.shapes) {
      const spec = shapeSpec(shape, qos, opts.messages, opts.fan)
      const name = `${shape} qos${qos}`
      const rows = await pairs(opts.rounds,
        async () => await runScenario(spec, { ...tenant, label: 'tenant' }),
        async () => await runScenario(spec, { ...base, label: 'default' }))
      rows.forEach(([t, d], i) => {
        process.stdout.write(`r${i + 1} ${name}: tenant ${f0(t.msgPerSec)} msg/s (${us(t).toFixed(1)} µs), default ${f0(d.msgPerSec)} msg/s (${us(d).toFixed(1)} µs), ratio ${f2(t.msgPerSec / d.msgPerSec)}, lost ${t.lost}/${d.lost}\n`)
        lines.push(`| ${name} | ${i + 1} | ${f0(t.msgPerSec)} | ${f0(d.msgPerSec)} | ${f2(t.msgPerSec / d.msgPerSec)} | ${us(t).toFixed(1)} | ${us(d).toFixed(1)} | ${f2(us(d) / us(t))} | ${t.lost}/${d.lost} |`)
      })
      lines.push(`| ${name} | **median** | ${f0(median(rows.map(([t]) => t.msgPerSec)))} | ${f0(median(rows.map(([, d]) => d.msgPerSec)))} | **${f2(median(rows.map(([t, d]) => t.msgPerSec / d.msgPerSec)))}** | ` +
        `${median(rows.map(([t]) => us(t))).toFixed(1)} | ${median(rows.map(([, d]) => us(d))).toFixed(1)} | **${f2(median(rows.map(([t, d]) => us(d) / us(t))))}** | |`)
    }
  }
  return lines.join('\n')
}

async function main (): Promise<void> {
  const opts = parseOptions(process.argv.slice(2))
  process.stdout.write(`# bench:tenancy ${new Date().toISOString()} — ${cpus().length} cores, node ${process.version}, ${process.argv.slice(2).join(' ')}\n`)
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-bench-tenancy-'))
  let broker: RunningBroker | undefined
  try {
    broker = await launchBroker('starling', {
      starlingReceiveMaximum: 100,
      // Embedded mode: the default broker stays NONE (anonymous); a private data directory.
      starlingEnv: { STARLING_ADMIN_TOKEN: ADMIN_TOKEN, STARLING_SECRET_KEY: SECRET_KEY, STARLING_DATA_DIR: dataDir, STARLING_AUTH_FAILURE_DELAY_MAX_MS: '0' }
    })
    await api(broker, 'POST', '/namespaces', { name: 'bench' })
    const created = await api(broker, 'POST', '/namespaces/bench/brokers', { name: 'tenant', authType: 'TOKEN' }) as { id: string }
    process.stdout.write(`[starling] pid ${broker.pid} port ${broker.port}: ${broker.note}; broker bench/tenant ${created.id} (TOKEN)\n`)
    const tables: string[] = []
    if (opts.parts.includes('connect')) tables.push(await connectPart(broker, opts))
    if (opts.parts.includes('publish')) tables.push(await publishPart(broker, opts))
    process.stdout.write('\n' + tables.join('\n\n') + '\n')
  } finally {
    await broker?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

export { ADMIN_TOKEN, SECRET_KEY }

if (process.argv[1]?.endsWith('tenancy.ts') === true) runMain('bench:tenancy', main, killAllChildren)
