import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * The heap mode `starling serve` switches at run time (docs/benchmarks.md, "Issue 16 targets 2
 * and 4: heap settings under a message stream" and "Issue 16 targets 3 and 4: the heap mode in
 * connect storms"). The lean settings of heap-tuning.ts (growing factor 1.2, compaction on every
 * full GC) keep an idle pod small, but under a stream of work whose allocations reach the old space
 * they run a full compacting GC every ~2 s (38–110 ms of main thread each under a message stream;
 * 9 in ~15 s, 94–211 ms each, in a 400/s connect storm). So while the pod carries a message stream
 * or a connect storm it uses V8's own growing factor and no compaction on every full GC, and when
 * the work stops it returns to the lean settings and runs one full GC itself: an idle pod whose
 * devices only ping allocates too little for V8 to run one soon, and the heap the work grew would
 * otherwise stay committed. That GC is one pause (of a 55–80 MB heap: up to ~0.7 s on a loaded
 * machine), at a moment the pod has just gone quiet.
 */
export type HeapMode = 'lean' | 'stream'

export interface HeapModeOptions {
  /** Messages in + out per second at or above which the pod is carrying a stream. */
  readonly streamPerSecond: number
  /**
   * Connections accepted per second at or above which the pod is in a connect storm: between a
   * quiet ramp (100/s, which stays lean) and a 400/s storm or a fleet reconnecting.
   */
  readonly connectsPerSecond: number
  /** Consecutive samples below both after which the stream or storm has stopped. */
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
export const HEAP_MODE_DEFAULTS: HeapModeOptions = { streamPerSecond: 1000, connectsPerSecond: 250, quietSamples: 20 }

/** What a sample asks for: nothing, the stream settings, or the lean ones and a full GC. */
export type HeapModeStep = 'none' | 'enter-stream' | 'leave-stream'

/** Rate per second of a cumulative count since its last sample; none at the origin or after a reset. */
function rateOf (total: number, last: number | undefined, seconds: number): number | undefined {
  // a counter that went back (a restart of its source) is no rate
  if (last === undefined || total < last || seconds <= 0) return undefined
  return (total - last) / seconds
}

/**
 * The mode decision alone: fed cumulative counts of messages (in + out) and of accepted
 * connections, and the seconds since the last sample. Either rate at its threshold is work.
 */
export class HeapModeDecider {
  readonly #options: HeapModeOptions
  #mode: HeapMode = 'lean'
  #lastMessages: number | undefined
  #lastConnects: number | undefined
  #quiet = 0

  constructor (options: HeapModeOptions = HEAP_MODE_DEFAULTS) {
    this.#options = options
  }

  get mode (): HeapMode {
    return this.#mode
  }

  sample (messages: number, seconds: number, connects = 0): HeapModeStep {
    const messageRate = rateOf(messages, this.#lastMessages, seconds)
    const connectRate = rateOf(connects, this.#lastConnects, seconds)
    this.#lastMessages = messages
    this.#lastConnects = connects
    // the first sample only sets the origin
    if (messageRate === undefined && connectRate === undefined) return 'none'
    if ((messageRate ?? 0) >= this.#options.streamPerSecond || (connectRate ?? 0) >= this.#options.connectsPerSecond) {
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
 * Samples `messages()` (cumulative messages in + out) and `connects()` (cumulative connections
 * accepted) every `intervalMs` and switches the flags of
 * `applied` (the defaults applyHeapDefaults set; an operator's own flags are never in it). With
 * none applied it does nothing. The timer does not keep the process alive.
 */
export function startHeapModeSwitch (args: {
  applied: readonly string[]
  messages: () => number
  connects?: () => number
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
    const step = decider.sample(args.messages(), (now - at) / 1000, args.connects?.() ?? 0)
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
