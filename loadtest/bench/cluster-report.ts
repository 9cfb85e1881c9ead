import type { CrossResult } from './cross-scenario.js'
import type { RetainedResult } from './retained.js'
import type { WildcardResult } from './wildcard.js'

/** Progress lines and markdown tables of the cluster benchmark. */
export interface CrossRow {
  readonly target: string
  readonly scenario: string
  readonly result: CrossResult
}

const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–')
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–')
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–')

export function crossLine (row: CrossRow): string {
  const r = row.result
  const redis = r.redis !== undefined ? `, redis ${f2(r.redis.total / Math.max(1, r.unique))} cmd/msg` : ''
  return `[${row.target}] ${row.scenario}: ${f0(r.msgPerSec)} msg/s, p50 ${f1(r.p50)} ms, p99 ${f1(r.p99)} ms, ` +
    `${r.unique}/${r.expected} (lost ${r.lost}, dup ${r.duplicates}), max gap ${f0(r.maxGapMs)} ms, broker-side CPU ${f2(r.brokerCpu)}${redis}${r.short.length > 0 ? `, short subscribers (index:missing) ${r.short.slice(0, 20).join(' ')}` : ''}${r.timedOut ? ' TIMED OUT' : ''}`
}

export function crossTable (rows: readonly CrossRow[]): string {
  const lines = [
    '| scenario | target | msg/s | p50 ms | p99 ms | delivered | lost | dup | max gap ms | broker-side CPU (cores) | Redis cmd/msg |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  ]
  for (const { target, scenario, result: r } of rows) {
    const cmds = r.redis !== undefined ? f2(r.redis.total / Math.max(1, r.unique)) : '–'
    lines.push(`| ${scenario} | ${target} | ${f0(r.msgPerSec)} | ${f1(r.p50)} | ${f1(r.p99)} | ${r.unique}/${r.expected} | ${r.lost} | ${r.duplicates} | ${f0(r.maxGapMs)} | ${f2(r.brokerCpu)} | ${cmds} |`)
  }
  return lines.join('\n')
}

/** Redis commands per delivered message, by command (commands seen in any row). */
export function commandsTable (rows: readonly CrossRow[]): string {
  const withRedis = rows.filter((r) => r.result.redis !== undefined)
  const names = new Map<string, number>()
  for (const row of withRedis) for (const [name, n] of row.result.redis?.calls ?? []) names.set(name, (names.get(name) ?? 0) + n)
  const cols = [...names.entries()].sort((a, b) => b[1] - a[1]).map(([name]) => name)
  const lines = [
    `| scenario | target | total | ${cols.join(' | ')} |`,
    `|---|---|---:|${cols.map(() => '---:').join('|')}|`
  ]
  for (const { target, scenario, result: r } of withRedis) {
    const per = (n: number): string => f2(n / Math.max(1, r.unique))
    const calls = new Map(r.redis?.calls ?? [])
    lines.push(`| ${scenario} | ${target} | ${per(r.redis?.total ?? 0)} | ${cols.map((c) => (calls.has(c) ? per(calls.get(c) ?? 0) : '')).join(' | ')} |`)
  }
  return lines.join('\n')
}

export function wildcardTable (rows: readonly WildcardResult[]): string {
  const lines = [
    '| distinct wildcard subs | connections | SUBSCRIBE→last SUBACK s | Redis patterns (NUMPAT) | patterns visible after s | emitter channels | msg/s (QoS 1 cross-pod) | p50 ms | p99 ms | lost | Redis CPU µs/msg | Redis cmd/msg | pods+Redis CPU (cores) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  ]
  for (const w of rows) {
    const r = w.run
    lines.push(`| ${w.count} | ${w.connections} | ${f2(w.subscribeSeconds)} | ${w.numpat} | ${f1(w.numpatSeconds)} | ${w.channels} | ${f0(r.msgPerSec)} | ${f1(r.p50)} | ${f1(r.p99)} | ${r.lost} | ${f1(w.redisCpuUsPerMsg)} | ${f2((r.redis?.total ?? Number.NaN) / Math.max(1, r.unique))} | ${f2(r.brokerCpu)} |`)
  }
  return lines.join('\n')
}

export function retainedTable (target: string, res: RetainedResult): string {
  const lines = [
    `${target}: ${res.count} retained topics loaded (QoS 1, acked) in ${f1(res.loadSeconds)} s (${f0(res.count / res.loadSeconds)} msg/s)`,
    '',
    '| target | filter (run prefix elided) | matching | SUBACK ms | all retained delivered ms | received |',
    '|---|---|---:|---:|---:|---:|'
  ]
  for (const p of res.probes) {
    lines.push(`| ${target} | \`${p.filter.replace(/^ret\/[^/]+\//, 'ret/…/')}\` | ${p.expected} | ${f1(p.subackMs)} | ${f1(p.deliveredMs)} | ${p.received} |`)
  }
  return lines.join('\n')
}

/** One round of the bus part: the same one-to-one clean QoS 1 run on each target. */
export type BusRound = ReadonlyMap<string, CrossRow>

/** Broker-side CPU µs per delivered message of a run (every process in its pids). */
export function cpuUsPerMessage (r: CrossResult): number {
  return r.unique > 0 ? r.brokerCpu * r.seconds / r.unique * 1e6 : Number.NaN
}

function median (values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return Number.NaN
  const mid = v.length >> 1
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2
}

/**
 * The bus targets: medians over rounds of msg/s and CPU µs per message per target, then the two
 * ratios of issue 16 target 1, each taken within a round (same load) and the median over rounds.
 */
export function busTable (rounds: readonly BusRound[], names: { mosquitto: string, cross: string, embedded: string, onePod: string }): string {
  const targets = [...new Set(rounds.flatMap((r) => [...r.keys()]))]
  const lines = [
    `| target (one-to-one QoS 1, clean) | msg/s (median of ${rounds.length}) | CPU µs/msg (median) | CPU µs/msg per round | Redis cmd/msg |`,
    '|---|---:|---:|---|---:|'
  ]
  for (const t of targets) {
    const runs = rounds.map((r) => r.get(t)?.result).filter((r): r is CrossResult => r !== undefined)
    const cmds = median(runs.map((r) => (r.redis !== undefined ? r.redis.total / Math.max(1, r.unique) : Number.NaN)))
    lines.push(`| ${t} | ${f0(median(runs.map((r) => r.msgPerSec)))} | ${f1(median(runs.map(cpuUsPerMessage)))} | ${runs.map((r) => f1(cpuUsPerMessage(r))).join(', ')} | ${f2(cmds)} |`)
  }
  const ratio = (a: string, b: string, of: (r: CrossResult) => number): string => {
    const per = rounds.map((r) => {
      const x = r.get(a)?.result
      const y = r.get(b)?.result
      return x !== undefined && y !== undefined ? of(x) / of(y) : Number.NaN
    })
    return `${f2(median(per))}× (rounds: ${per.map(f2).join(', ')})`
  }
  lines.push('')
  lines.push(`- cross-pod CPU per message, pods + Redis ÷ Mosquitto: ${ratio(names.cross, names.mosquitto, cpuUsPerMessage)} — target ≤ 1.5×`)
  lines.push(`- 1 pod + Redis ÷ same pod embedded, msg/s: ${ratio(names.onePod, names.embedded, (r) => r.msgPerSec)} — target ≥ 0.8×; CPU per message: ${ratio(names.onePod, names.embedded, cpuUsPerMessage)}`)
  return lines.join('\n')
}

/**
 * Shared A/B rounds: per tree, medians over rounds of msg/s, CPU µs per message and Redis
 * commands per message of plain 4→1 and group 4→$share/N, and the group ÷ plain ratios, each
 * taken within a round (same load) and the median over rounds.
 */
export function shareAbTable (rounds: readonly BusRound[], trees: readonly string[]): string {
  const lines = [
    `| tree | plain msg/s | plain CPU µs/msg | plain Redis cmd/msg | group msg/s | group CPU µs/msg | of it Redis | group Redis cmd/msg | group ÷ plain CPU/msg (rounds) | group ÷ plain msg/s (rounds) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---|'
  ]
  const redisUs = (r: CrossResult): number => (r.redis !== undefined && r.unique > 0 ? r.redis.cpuSeconds / r.unique * 1e6 : Number.NaN)
  const cmds = (r: CrossResult): number => (r.redis !== undefined ? r.redis.total / Math.max(1, r.unique) : Number.NaN)
  for (const tree of trees) {
    const of = (kind: string): CrossResult[] => rounds.map((r) => r.get(`${tree} ${kind}`)?.result).filter((r): r is CrossResult => r !== undefined)
    const plain = of('plain')
    const group = of('group')
    const ratio = (f: (r: CrossResult) => number): string => {
      const per = rounds.map((r) => {
        const g = r.get(`${tree} group`)?.result
        const p = r.get(`${tree} plain`)?.result
        return g !== undefined && p !== undefined ? f(g) / f(p) : Number.NaN
      })
      return `**${f2(median(per))}×** (${per.map(f2).join(', ')})`
    }
    lines.push(`| ${tree} | ${f0(median(plain.map((r) => r.msgPerSec)))} | ${f1(median(plain.map(cpuUsPerMessage)))} | ${f2(median(plain.map(cmds)))} | ` +
      `${f0(median(group.map((r) => r.msgPerSec)))} | ${f1(median(group.map(cpuUsPerMessage)))} | ${f1(median(group.map(redisUs)))} | ${f2(median(group.map(cmds)))} | ${ratio(cpuUsPerMessage)} | ${ratio((r) => r.msgPerSec)} |`)
  }
  return lines.join('\n')
}
