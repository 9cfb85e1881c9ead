import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * The heap mode `starling serve` switches at run time (docs/benchmarks.md, "Issue 16 targets 2
 * and 4: heap settings under a message stream"). The lean settings of heap-tuning.ts (growing
 * factor 1.2, compaction on every full GC) keep an idle pod small, but under a message stream
 * whose in-flight messages reach the old space they run a full compacting GC every ~2 s (38–110 ms
 * of main thread each). So while the pod carries a stream it uses V8's own growing factor and no
 * compaction on every full GC, and when the stream stops it returns to the lean settings and runs
 * one full GC itself: an idle pod whose devices only ping allocates too little for V8 to run one
 * soon, and the heap the stream grew would otherwise stay committed. That GC is one pause (of a
 * 55–80 MB heap: up to ~0.7 s on a loaded machine), at a moment the pod has just gone quiet.
 */
export type HeapMode = 'lean' | 'stream'

export interface HeapModeOptions {
  /** Messages in + out per second at or above which the pod is carrying a stream. */
  readonly streamPerSecond: number
  /** Consecutive samples below it after which the stream has stopped. */
  readonly quietSamples: number
}

/**
 * At most one full GC of our own per minute: a rate that hovers around the threshold would otherwise
 * pause the pod at every dip (a full GC of a large heap takes a fraction of a second). Without it the
 * lean flags still apply and V8's next full GC shrinks the heap.
 */
export const HEAP_MODE_FULL_GC_SPACING_MS = 60_000
/** Sampled every 250 ms: a stream gets its settings within ~¼ s, and 20 quiet samples are 5 s. */
export const HEAP_MODE_INTERVAL_MS = 250
export const HEAP_MODE_DEFAULTS: HeapModeOptions = { streamPerSecond: 1000, quietSamples: 20 }

/** What a sample asks for: nothing, the stream settings, or the lean ones and a full GC. */
export type HeapModeStep = 'none' | 'enter-stream' | 'leave-stream'

/** The mode decision alone: fed a cumulative message count and the seconds since the last sample. */
export class HeapModeDecider {
  readonly #options: HeapModeOptions
  #mode: HeapMode = 'lean'
  #last: number | undefined
  #quiet = 0

  constructor (options: HeapModeOptions = HEAP_MODE_DEFAULTS) {
    this.#options = options
  }

  get mode (): HeapMode {
    return this.#mode
  }

  sample (total: number, seconds: number): HeapModeStep {
    const last = this.#last
    this.#last = total
    // the first sample only sets the origin; a counter that went back (a restart of its source) too
    if (last === undefined || total < last || seconds <= 0) return 'none'
    const rate = (total - last) / seconds
    if (rate >= this.#options.streamPerSecond) {
      this.#quiet = 0
      if (this.#mode === 'stream') return 'none'
      this.#mode = 'stream'
      return 'enter-stream'
    }
    if (this.#mode === 'lean') return 'none'
    this.#quiet++
    if (this.#quiet < this.#options.quietSamples) return 'none'
    this.#mode = 'lean'
    this.#quiet = 0
    return 'leave-stream'
  }
}

/** The lean flag of each heap default and its stream counterpart. */
const STREAM_FLAGS: Readonly<Record<string, string>> = {
  '--heap-growing-percent=20': '--heap-growing-percent=0',
  '--compact-on-every-full-gc': '--no-compact-on-every-full-gc'
}

let fullGc: (() => void) | undefined
/** V8's `gc()`, exposed at run time: a full (here compacting) GC, on the main thread. */
function collectFully (): void {
  if (fullGc === undefined) {
    setFlagsFromString('--expose-gc')
    fullGc = runInNewContext('gc') as () => void
  }
  fullGc()
}

export interface HeapModeSwitch {
  readonly mode: HeapMode
  /** Full GCs this switch ran (one per return to the lean mode, at most one per spacing). */
  readonly fullGcs: number
  stop: () => void
}

/**
 * Samples `messages()` (cumulative messages in + out) every `intervalMs` and switches the flags of
 * `applied` (the defaults applyHeapDefaults set; an operator's own flags are never in it). With
 * none applied it does nothing. The timer does not keep the process alive.
 */
export function startHeapModeSwitch (args: {
  applied: readonly string[]
  messages: () => number
  intervalMs?: number
  fullGcSpacingMs?: number
  options?: HeapModeOptions
  onChange?: (mode: HeapMode, step: HeapModeStep) => void
}): HeapModeSwitch {
  const lean = args.applied.filter((flag) => STREAM_FLAGS[flag] !== undefined)
  const decider = new HeapModeDecider(args.options)
  let fullGcs = 0
  let lastFullGcAt = Number.NEGATIVE_INFINITY
  const spacingMs = args.fullGcSpacingMs ?? HEAP_MODE_FULL_GC_SPACING_MS
  const intervalMs = args.intervalMs ?? HEAP_MODE_INTERVAL_MS
  let at = performance.now()
  const tick = (): void => {
    const now = performance.now()
    const step = decider.sample(args.messages(), (now - at) / 1000)
    at = now
    if (step === 'none') return
    if (step === 'enter-stream') {
      for (const flag of lean) setFlagsFromString(STREAM_FLAGS[flag] as string)
    } else {
      for (const flag of lean) setFlagsFromString(flag)
      if (now - lastFullGcAt >= spacingMs) {
        collectFully()
        fullGcs++
        lastFullGcAt = performance.now()
      }
    }
    args.onChange?.(decider.mode, step)
  }
  const timer = lean.length > 0 ? setInterval(tick, intervalMs) : undefined
  timer?.unref()
  return {
    get mode () { return decider.mode },
    get fullGcs () { return fullGcs },
    stop: () => { if (timer !== undefined) clearInterval(timer) }
  }
}
