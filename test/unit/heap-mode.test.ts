import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { HeapModeDecider, startHeapModeSwitch, type HeapMode } from '../../src/heap-mode.js'
import { HEAP_DEFAULTS } from '../../src/heap-tuning.js'

const ALL = HEAP_DEFAULTS.map((d) => d.flag)

test('the decider enters the stream mode at the threshold and leaves it after the quiet samples', () => {
  const decider = new HeapModeDecider({ streamPerSecond: 1000, connectsPerSecond: 250, quietSamples: 3 })
  assert.equal(decider.sample(0, 1), 'none') // the origin
  assert.equal(decider.sample(999, 1), 'none')
  assert.equal(decider.mode, 'lean')
  assert.equal(decider.sample(1999, 1), 'enter-stream')
  assert.equal(decider.sample(4000, 1), 'none')
  assert.equal(decider.mode, 'stream')
  // two quiet seconds, then a busy one: the count of quiet samples starts again
  assert.equal(decider.sample(4100, 1), 'none')
  assert.equal(decider.sample(4200, 1), 'none')
  assert.equal(decider.sample(5200, 1), 'none')
  assert.equal(decider.sample(5200, 1), 'none')
  assert.equal(decider.sample(5200, 1), 'none')
  assert.equal(decider.mode, 'stream')
  assert.equal(decider.sample(5200, 1), 'leave-stream')
  assert.equal(decider.mode, 'lean')
  // the rate is per second of the interval sampled, and a counter that went back is no rate
  assert.equal(decider.sample(5800, 0.5), 'enter-stream')
  assert.equal(decider.sample(10, 1), 'none')
  assert.equal(decider.mode, 'stream')
})

test('the decider counts a connect storm as work and a quiet ramp not', () => {
  const decider = new HeapModeDecider({ streamPerSecond: 1000, connectsPerSecond: 250, quietSamples: 2 })
  assert.equal(decider.sample(0, 0.25, 0), 'none') // the origin
  // a quiet ramp: 100 connects/s, a trickle of messages
  assert.equal(decider.sample(10, 0.25, 25), 'none')
  assert.equal(decider.sample(20, 0.25, 50), 'none')
  assert.equal(decider.mode, 'lean')
  // a 400/s storm without a message
  assert.equal(decider.sample(20, 0.25, 150), 'enter-stream')
  assert.equal(decider.sample(20, 0.25, 250), 'none')
  assert.equal(decider.mode, 'stream')
  // the storm ends; messages stay below their threshold: lean after the quiet samples
  assert.equal(decider.sample(30, 0.25, 250), 'none')
  assert.equal(decider.sample(40, 0.25, 251), 'leave-stream')
  // a message stream while connects are quiet is work too, and a connect counter that went back
  // leaves the message rate to decide
  assert.equal(decider.sample(1040, 0.5, 251), 'enter-stream')
  assert.equal(decider.sample(2040, 0.5, 0), 'none')
  assert.equal(decider.mode, 'stream')
})

/** The switch's timing in these tests: samples every 50 ms, 3 quiet ones to leave. */
const SWITCH_TIMING = { intervalMs: 50, fullGcSpacingMs: 60_000, options: { streamPerSecond: 1000, connectsPerSecond: 250, quietSamples: 3 } }

/** Waits (up to 2 s) until the switch is in `mode`. */
async function untilMode (heapMode: { readonly mode: HeapMode }, mode: HeapMode): Promise<void> {
  for (let i = 0; i < 100 && heapMode.mode !== mode; i++) await sleep(20)
}

/** Start times of the major GCs from now on, as the process' PerformanceObserver reports them. */
function observeMajorGcs (): { majors: number[], observer: PerformanceObserver } {
  const majors: number[] = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors.push(entry.startTime)
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  return { majors, observer }
}

/** Counts messages (or connects) at `perTick` every 5 ms with a real timer until stopped. */
function messageStream (perTick: number): { total: () => number, stop: () => void } {
  let total = 0
  const timer = setInterval(() => { total += perTick }, 5)
  return { total: () => total, stop: () => { clearInterval(timer) } }
}

test('a message stream switches the pod to V8 growing; when it stops, the lean flags come back with one full GC', async () => {
  const { majors, observer } = observeMajorGcs()
  const stream = messageStream(50) // ~10,000 messages per second
  let again: ReturnType<typeof messageStream> | undefined
  const changes: HeapMode[] = []
  const heapMode = startHeapModeSwitch({
    applied: ALL,
    messages: () => stream.total() + (again?.total() ?? 0),
    ...SWITCH_TIMING,
    onChange: (mode) => { changes.push(mode) }
  })
  try {
    await untilMode(heapMode, 'stream')
    assert.equal(heapMode.mode, 'stream')
    await sleep(200)
    assert.equal(heapMode.mode, 'stream', 'stays in the stream mode while messages flow')
    stream.stop()
    const stoppedAt = performance.now()
    await untilMode(heapMode, 'lean')
    assert.equal(heapMode.mode, 'lean')
    assert.ok(performance.now() - stoppedAt >= 3 * 50 - 10, 'leaves only after the quiet samples')
    assert.equal(heapMode.fullGcs, 1)
    await sleep(50) // GC entries are delivered asynchronously
    assert.ok(majors.some((at) => at >= stoppedAt), 'a full GC ran after the stream stopped')
    assert.deepEqual(changes, ['stream', 'lean'])
    // a second stream within the spacing: the lean flags come back without another full GC of ours
    again = messageStream(50)
    await untilMode(heapMode, 'stream')
    again.stop()
    await untilMode(heapMode, 'lean')
    assert.deepEqual(changes, ['stream', 'lean', 'stream', 'lean'])
    assert.equal(heapMode.fullGcs, 1)
  } finally {
    heapMode.stop()
    stream.stop()
    again?.stop()
    observer.disconnect()
  }
})

test("with none of the defaults applied (the operator's own flags) the mode never switches", async () => {
  const stream = messageStream(50)
  const heapMode = startHeapModeSwitch({ applied: [], messages: stream.total, intervalMs: 20, options: { streamPerSecond: 1000, connectsPerSecond: 250, quietSamples: 1 } })
  try {
    await sleep(200)
    assert.ok(stream.total() > 200, 'the stream ran')
    assert.equal(heapMode.mode, 'lean')
    assert.equal(heapMode.fullGcs, 0)
  } finally {
    heapMode.stop()
    stream.stop()
  }
})

test('a connect storm switches the pod to V8 growing; when it stops, the lean flags come back with one full GC', async () => {
  const { majors, observer } = observeMajorGcs()
  const storm = messageStream(4) // ~800 connects per second (fewer on a loaded machine), no message
  const changes: HeapMode[] = []
  const heapMode = startHeapModeSwitch({
    applied: ALL,
    messages: () => 0,
    connects: storm.total,
    ...SWITCH_TIMING,
    onChange: (mode) => { changes.push(mode) }
  })
  try {
    await untilMode(heapMode, 'stream')
    assert.equal(heapMode.mode, 'stream')
    storm.stop()
    const stoppedAt = performance.now()
    await untilMode(heapMode, 'lean')
    assert.equal(heapMode.mode, 'lean')
    assert.equal(heapMode.fullGcs, 1)
    await sleep(50) // GC entries are delivered asynchronously
    assert.ok(majors.some((at) => at >= stoppedAt), 'a full GC ran after the storm stopped')
    assert.deepEqual(changes, ['stream', 'lean'])
  } finally {
    heapMode.stop()
    storm.stop()
    observer.disconnect()
  }
})

test('a quiet ramp of connects keeps the lean flags', async () => {
  const ramp = messageStream(1) // ~200 connects per second at most (a 5 ms timer), below 250
  const heapMode = startHeapModeSwitch({
    applied: ALL,
    messages: () => 0,
    connects: ramp.total,
    intervalMs: 100,
    options: { streamPerSecond: 1000, connectsPerSecond: 250, quietSamples: 1 }
  })
  try {
    await sleep(500)
    assert.ok(ramp.total() > 20, 'the ramp ran')
    assert.equal(heapMode.mode, 'lean')
    assert.equal(heapMode.fullGcs, 0)
  } finally {
    heapMode.stop()
    ramp.stop()
  }
})
