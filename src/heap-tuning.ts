import { setFlagsFromString } from 'node:v8'

/**
 * V8 heap settings `starling serve` applies to itself at start (docs/benchmarks.md, "Memory per
 * idle connection after a connect storm"). A pod holding thousands of idle connections is mostly
 * old-space objects that live as long as their connections; with V8's defaults the old space grows
 * to 2–4× its live size before a full GC (the growing factor is picked for throughput) and a
 * connect storm leaves that slack in RSS for as long as the devices stay connected: with keep-alive
 * pings the pod is never idle enough for V8's memory reducer to give it back.
 *
 * A growing factor of 1.2 bounds the slack to ~20% of the live heap, at the price of more full GCs
 * while the heap grows (the marking is incremental and concurrent; measured: no change in CPU per
 * CONNECT or per message within the noise of this machine, docs/benchmarks.md).
 *
 * The young generation cannot be resized after V8 started: its size is a node flag,
 * `--max-semi-space-size`, set where the process is started (Dockerfile, Helm chart values,
 * `NODE_OPTIONS`).
 */
export const HEAP_GROWING_PERCENT = 20

/** Flags an operator may have given node themselves; those win over our default. */
const OPERATOR_FLAG = /^--(heap[-_]growing[-_]percent|optimize[-_]for[-_]size)\b/

/**
 * Applies the heap defaults unless the process was started with its own growing setting.
 * Returns the flag it set, or undefined when it left the operator's choice alone.
 */
export function applyHeapDefaults (execArgv: readonly string[] = process.execArgv): string | undefined {
  if (execArgv.some((arg) => OPERATOR_FLAG.test(arg))) return undefined
  const flag = `--heap-growing-percent=${HEAP_GROWING_PERCENT}`
  setFlagsFromString(flag)
  return flag
}
