import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Sweeper } from '../../src/util/sweeper.js'

interface Line { level: 'warn' | 'info', msg: string }

/** A logger that keeps its lines, to check what an operator reads. */
function recordingLogger (): { lines: Line[], logger: { warn: (...args: unknown[]) => void, info: (...args: unknown[]) => void } } {
  const lines: Line[] = []
  const record = (level: Line['level']) => (...args: unknown[]) => { lines.push({ level, msg: String(args.at(-1)) }) }
  return { lines, logger: { warn: record('warn'), info: record('info') } }
}

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

test('sweeps run periodically until stop()', async (t) => {
  const { logger } = recordingLogger()
  let runs = 0
  const sweeper = new Sweeper(async () => { runs++ }, { name: 'test sweep', everyMs: 10, logger }).start()
  t.after(() => sweeper.stop())
  for (let i = 0; i < 100 && runs < 3; i++) await wait(10)
  assert.ok(runs >= 3, `ran ${runs} times`)
  await sweeper.stop()
  const stoppedAt = runs
  await wait(50)
  assert.equal(runs, stoppedAt)
  assert.equal(await sweeper.run(), undefined, 'a stopped sweeper does not sweep')
  assert.equal(runs, stoppedAt)
})

test('two sweeps never overlap: a call while one runs is skipped', async () => {
  const { logger } = recordingLogger()
  let active = 0
  let most = 0
  let release!: () => void
  const sweeper = new Sweeper(async () => {
    active++
    most = Math.max(most, active)
    await new Promise<void>((resolve) => { release = resolve })
    active--
    return 'swept'
  }, { name: 'test sweep', everyMs: 60_000, logger })
  const first = sweeper.run()
  assert.equal(await sweeper.run(), undefined)
  release()
  assert.equal(await first, 'swept')
  assert.equal(most, 1)
  const second = sweeper.run()
  release()
  assert.equal(await second, 'swept', 'the next sweep runs once the previous one ended')
})

test('stop() resolves once the sweep in progress has ended', async () => {
  const { logger } = recordingLogger()
  let ended = false
  const sweeper = new Sweeper(async () => { await wait(30); ended = true }, { name: 'test sweep', everyMs: 60_000, logger })
  void sweeper.run()
  await sweeper.stop()
  assert.ok(ended)
})

test('skip() prevents a sweep', async () => {
  const { logger } = recordingLogger()
  let runs = 0
  let closing = true
  const sweeper = new Sweeper(async () => { runs++ }, { name: 'test sweep', everyMs: 60_000, logger, skip: () => closing })
  await sweeper.run()
  assert.equal(runs, 0)
  closing = false
  await sweeper.run()
  assert.equal(runs, 1)
})

test('failures are logged once per failing streak, and the recovery once', async () => {
  const { lines, logger } = recordingLogger()
  let fail = true
  const sweeper = new Sweeper(async () => { if (fail) throw new Error('Connection is closed.') }, { name: 'test sweep', everyMs: 60_000, logger })
  assert.equal(await sweeper.run(), undefined)
  await sweeper.run()
  await sweeper.run()
  fail = false
  await sweeper.run()
  await sweeper.run()
  fail = true
  await sweeper.run()
  assert.deepEqual(lines, [
    { level: 'warn', msg: 'test sweep failed' },
    { level: 'info', msg: 'test sweep works again' },
    { level: 'warn', msg: 'test sweep failed' }
  ])
})
