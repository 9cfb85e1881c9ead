// Preloaded into benchmark pods (`node --import <this file>`): plain JS because pods run the
// compiled dist/ without a TypeScript loader. It measures what stalls a pod's event loop:
// - event-loop delay (perf_hooks monitorEventLoopDelay, 10 ms resolution),
// - GC pauses (PerformanceObserver 'gc', by kind),
// - the longest stalls with their wall-clock time (a 20 ms ticker's lateness), to line them up
//   with latency spikes and GC pauses.
// SIGUSR2 writes the figures since the previous signal as JSON to BENCH_PROBE_FILE (written to
// a temporary name, then renamed) and starts a new window.
import { renameSync, writeFileSync } from 'node:fs'
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks'

const file = process.env.BENCH_PROBE_FILE
if (file !== undefined && file !== '') {
  const TICK_MS = 20
  const STALL_MS = 50
  const KEEP = 200
  const wall = () => performance.timeOrigin + performance.now()
  const kinds = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb'
  }
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  let windowStart = wall()
  let gc = []
  let stalls = []
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (gc.length < 200_000) gc.push({ at: performance.timeOrigin + entry.startTime, ms: entry.duration, kind: kinds[entry.detail?.kind] ?? String(entry.detail?.kind) })
    }
  }).observe({ entryTypes: ['gc'] })
  let last = wall()
  setInterval(() => {
    const now = wall()
    const late = now - last - TICK_MS
    last = now
    if (late >= STALL_MS) {
      stalls.push({ at: now - late, ms: late })
      if (stalls.length > KEEP * 4) stalls = stalls.sort((a, b) => b.ms - a.ms).slice(0, KEEP)
    }
  }, TICK_MS).unref()
  const pct = (sorted, p) => sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
  process.on('SIGUSR2', () => {
    const byKind = {}
    for (const g of gc) {
      const k = (byKind[g.kind] ??= { count: 0, totalMs: 0, maxMs: 0 })
      k.count++
      k.totalMs += g.ms
      if (g.ms > k.maxMs) k.maxMs = g.ms
    }
    const pauses = gc.map((g) => g.ms).sort((a, b) => a - b)
    const out = {
      pid: process.pid,
      from: windowStart,
      to: wall(),
      loop: { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6, meanMs: delay.mean / 1e6 },
      gc: { count: pauses.length, totalMs: pauses.reduce((n, x) => n + x, 0), p99Ms: pct(pauses, 99), maxMs: pct(pauses, 100), byKind, longest: gc.filter((g) => g.ms >= 20).sort((a, b) => b.ms - a.ms).slice(0, 20) },
      stalls: stalls.sort((a, b) => b.ms - a.ms).slice(0, 20),
      heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20
    }
    delay.reset()
    gc = []
    stalls = []
    windowStart = out.to
    writeFileSync(file + '.tmp', JSON.stringify(out))
    renameSync(file + '.tmp', file)
  })
}
