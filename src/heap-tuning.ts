import { setFlagsFromString } from 'node:v8'

/**
 * V8 heap settings `starling serve` applies to itself at start (docs/benchmarks.md, "Memory per
 * idle connection after a connect storm"). A pod holding thousands of idle connections is mostly
 * old-space objects that live as long as their connections. With V8's defaults the old space grows
 * to 2–4× its live size before a full GC (the growing factor is picked for throughput), and a
 * connect storm leaves that slack, and the pages it grew, in RSS for as long as the devices stay
 * connected: a pod whose devices ping is never idle enough for V8's memory reducer to give them back.
 *
 * `--heap-growing-percent=20`: the old space may grow to 1.2× what the last full GC kept, so the
 * garbage of a storm is collected while it happens (the marking is incremental and concurrent).
 * Measured (docs/benchmarks.md): RSS per idle connection after a storm 10.9–17 KB → 4.9–8.0 KB
 * embedded, 22.5–23.6 → 10.0–10.8 KB in cluster mode; CPU per message unchanged within the noise,
 * per CONNECT up to +28% in some pairs (more full GCs during the storm).
 *
 * `--compact-on-every-full-gc`: a full GC also moves the objects out of fragmented pages, so the
 * pages a storm grew are released instead of staying committed around a few live connections
 * (cluster mode: old space 8.2 KB per connection in size for 5.0 in use without it, 5.1 for 5.0
 * with it; RSS per idle connection 10.3 → 7.4 KB). Full GCs are rare once the pod is idle; CPU
 * per message showed no change in an A/B, a full GC during a storm takes longer.
 *
 * These are the settings of an idle pod, not of one carrying a message stream: there the in-flight
 * messages reach the old space, and 20% of slack with compaction meant a full compacting GC every
 * ~2 s (38–110 ms each; docs/benchmarks.md, "Issue 16 targets 2 and 4: heap settings under a
 * message stream"). heap-mode.ts switches the flags set here at run time: V8's own growing and no
 * compaction while ≥ 1,000 messages/s pass through the pod or it accepts ≥ 250 connections/s (a
 * connect storm: "Issue 16 targets 3 and 4: the heap mode in connect storms"), these again 5 s after it stops,
 * with one full GC then (an idle pod would not run one for a long time, and the heap the stream
 * grew stayed committed). V8 reads both flags at every GC, so setting them at start, and again
 * later, works. A middle growing factor (50, with or without compaction) misses target 4 (9.2–9.3
 * KB per idle connection after a storm in cluster mode) and did not help under the stream.
 *
 * Not a default: `--optimize-for-size` (young generation shrunk to 1 MB, freed pages released):
 * ~6.5 KB per idle connection in cluster mode, but +35% CPU per message one-to-one in the same
 * A/B. An operator who wants it starts node with it (`node --optimize-for-size bin/starling.js`;
 * NODE_OPTIONS does not take it). An operator who starts node with any flag named here (or its
 * `--no-` form) keeps their own choice for it, and the run-time switch leaves that flag alone.
 */
export const HEAP_DEFAULTS: ReadonlyArray<{ readonly name: string, readonly flag: string }> = [
  { name: 'heap-growing-percent', flag: '--heap-growing-percent=20' },
  { name: 'compact-on-every-full-gc', flag: '--compact-on-every-full-gc' }
]

/** `--name`, `--no-name`, `--name=…`, with `-` or `_` between words, as node accepts them. */
function givenByOperator (execArgv: readonly string[], name: string): boolean {
  const words = name.split('-').join('[-_]')
  const pattern = new RegExp(`^--(no[-_])?${words}(=|$)`)
  return execArgv.some((arg) => pattern.test(arg))
}

/** Applies the heap defaults the process was not started with; returns the flags it set. */
export function applyHeapDefaults (execArgv: readonly string[] = process.execArgv): string[] {
  const applied: string[] = []
  for (const { name, flag } of HEAP_DEFAULTS) {
    if (givenByOperator(execArgv, name)) continue
    setFlagsFromString(flag)
    applied.push(flag)
  }
  return applied
}
