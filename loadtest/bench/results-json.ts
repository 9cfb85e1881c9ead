import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname } from 'node:path'
import { cpuPerMessageUs } from './report.js'
import type { ScenarioResult } from './scenario.js'

/**
 * The results file a benchmark writes with `--json PATH` (docs/bench-results/<name>.json): what
 * `chart.ts` draws and the "Current figures" tables are read from. One row per (broker, protocol,
 * shape, QoS): msg/s, latency and loss of the median-msg/s round, µs/msg as the median over the
 * rounds, every round's msg/s and µs/msg kept beside them.
 */
export interface ResultsFile {
  readonly title: string
  readonly command: string
  /** ISO time the run started (UTC). */
  readonly date: string
  readonly commit: string
  /** 1-minute load average at the start and at the end of the run. */
  readonly load: readonly [number, number]
  readonly node: string
  readonly rows: readonly ResultRow[]
}

export interface ResultRow {
  /** What the row measured (broker, or a cluster target such as "3 pods via HAProxy"). */
  readonly broker: string
  /** Scenario name when it says more than shape, QoS and protocol (the cluster benchmark's). */
  readonly scenario?: string
  /** MQTT protocol level of the generator's clients: 4 (3.1.1) or 5. */
  readonly protocol: 4 | 5
  readonly shape: string
  readonly qos: number
  readonly msgPerSec: number
  /** Broker CPU microseconds per delivered message: the median over the rounds (steadier than msg/s). */
  readonly usPerMsg: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly lost: number
  readonly duplicates: number
  readonly brokerCpu: number
  /** Share of a core; NaN where the benchmark does not measure it. */
  readonly generatorCpu: number
  readonly rounds: ReadonlyArray<{ readonly msgPerSec: number, readonly usPerMsg: number }>
}

function medianOf (values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] ?? Number.NaN : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

const round = (n: number, digits: number): number => Number.isFinite(n) ? Number(n.toFixed(digits)) : Number.NaN

export function resultRow (broker: string, protocol: 4 | 5, median: ScenarioResult, all: readonly ScenarioResult[]): ResultRow {
  return {
    broker,
    protocol,
    shape: median.spec.shape,
    qos: median.spec.qos,
    msgPerSec: Math.round(median.msgPerSec),
    usPerMsg: round(medianOf(all.map(cpuPerMessageUs)), 1),
    p50Ms: round(median.p50, 2),
    p99Ms: round(median.p99, 2),
    lost: median.lost,
    duplicates: median.duplicates,
    brokerCpu: round(median.brokerCpu, 2),
    generatorCpu: round(median.generatorCpu, 2),
    rounds: all.map((r) => ({ msgPerSec: Math.round(r.msgPerSec), usPerMsg: round(cpuPerMessageUs(r), 1) }))
  }
}

/** The short commit of the working tree (with `+dirty` when it has changes), or "unknown". */
export function gitCommit (): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== ''
    return dirty ? `${head}+dirty` : head
  } catch {
    return 'unknown'
  }
}

export function loadNow (): number {
  return round(loadavg()[0] ?? Number.NaN, 2)
}

export function writeResults (path: string, file: ResultsFile): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n')
}
