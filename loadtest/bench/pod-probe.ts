import { existsSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Harness side of pod-probe.mjs: the node flags and environment that preload it into a pod, and
 * reading a pod's event-loop delay, GC pauses and longest stalls for a window (SIGUSR2 ends the
 * window and starts the next).
 */
export interface ProbeWindow {
  readonly pid: number
  readonly from: number
  readonly to: number
  readonly loop: { readonly p50Ms: number, readonly p99Ms: number, readonly maxMs: number, readonly meanMs: number }
  readonly gc: {
    readonly count: number
    readonly totalMs: number
    readonly p99Ms: number
    readonly maxMs: number
    readonly byKind: Record<string, { count: number, totalMs: number, maxMs: number }>
    readonly longest: ReadonlyArray<{ at: number, ms: number, kind: string }>
  }
  readonly stalls: ReadonlyArray<{ at: number, ms: number }>
  readonly heapUsedMb: number
}

export interface Probe { readonly pid: number, readonly file: string }

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'pod-probe.mjs')

export function probeSetup (name: string): { nodeArgs: string[], env: Record<string, string>, file: string } {
  const file = join(tmpdir(), `starling-bench-probe-${process.pid}-${name}.json`)
  return { nodeArgs: ['--import', SCRIPT], env: { BENCH_PROBE_FILE: file }, file }
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/** Ends each pod's current window and returns it (undefined for a pod that did not answer within 5 s). */
export async function readProbes (probes: readonly Probe[]): Promise<Array<ProbeWindow | undefined>> {
  for (const p of probes) rmSync(p.file, { force: true })
  for (const p of probes) {
    try { process.kill(p.pid, 'SIGUSR2') } catch {}
  }
  const deadline = Date.now() + 5000
  while (Date.now() < deadline && probes.some((p) => !existsSync(p.file))) await sleep(50)
  return probes.map((p) => {
    try { return JSON.parse(readFileSync(p.file, 'utf8')) as ProbeWindow } catch { return undefined }
  })
}

const f = (n: number): string => n.toFixed(n < 10 ? 1 : 0)

/** One line per pod: event-loop delay, GC pauses, and the longest stalls with their time offset from `origin`. */
export function probeLines (windows: ReadonlyArray<ProbeWindow | undefined>, origin: number): string[] {
  return windows.map((w, i) => {
    if (w === undefined) return `  pod ${i + 1}: no probe figures`
    const kinds = Object.entries(w.gc.byKind).map(([k, v]) => `${k} ${v.count}× ${f(v.totalMs)} ms (max ${f(v.maxMs)})`).join(', ')
    const stalls = w.stalls.slice(0, 5).map((s) => `${f(s.ms)} ms @${((s.at - origin) / 1000).toFixed(1)} s`).join(', ')
    const gcs = w.gc.longest.slice(0, 3).map((g) => `${g.kind} ${f(g.ms)} ms @${((g.at - origin) / 1000).toFixed(1)} s`).join(', ')
    return `  pod ${i + 1} (pid ${w.pid}): event-loop delay p50 ${f(w.loop.p50Ms)} p99 ${f(w.loop.p99Ms)} max ${f(w.loop.maxMs)} ms; ` +
      `GC ${w.gc.count} pauses ${f(w.gc.totalMs)} ms total, p99 ${f(w.gc.p99Ms)} max ${f(w.gc.maxMs)} ms [${kinds}]; longest GC: ${gcs || '–'}; ` +
      `longest stalls: ${stalls || '–'}; heap ${f(w.heapUsedMb)} MB`
  })
}

/** Summary figures over the pods: worst event-loop p99 and max, worst GC pause, GC ms per second. */
export function probeSummary (windows: ReadonlyArray<ProbeWindow | undefined>): { loopP99Ms: number, loopMaxMs: number, gcMaxMs: number, gcMsPerSec: number } {
  const ws = windows.filter((w): w is ProbeWindow => w !== undefined)
  const max = (xs: number[]): number => xs.length === 0 ? Number.NaN : Math.max(...xs)
  return {
    loopP99Ms: max(ws.map((w) => w.loop.p99Ms)),
    loopMaxMs: max(ws.map((w) => w.loop.maxMs)),
    gcMaxMs: max(ws.map((w) => w.gc.maxMs)),
    gcMsPerSec: max(ws.map((w) => w.gc.totalMs / Math.max(1e-3, (w.to - w.from) / 1000)))
  }
}
