import assert from 'node:assert/strict'
import { test } from 'node:test'
import { orTimedOut, TIMED_OUT, withTimeout } from '../../src/util/timeout.js'

const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms))

test('work that finishes in time gives its own value', async () => {
  assert.equal(await withTimeout(after(5, 'done'), 1000, () => 'late'), 'done')
  assert.equal(await orTimedOut(Promise.resolve(0), 1000), 0)
})

test('work that takes too long gives what late() returns', async () => {
  const started = Date.now()
  assert.equal(await withTimeout(after(300, 'done'), 20, () => 'late'), 'late')
  assert.equal(await orTimedOut(new Promise(() => {}), 20), TIMED_OUT)
  assert.ok(Date.now() - started < 1000)
})

test('a late() that throws rejects the race with its error', async () => {
  await assert.rejects(withTimeout(new Promise(() => {}), 10, () => { throw new Error('no answer') }), /no answer/)
})

test('a failure of the work within the time rejects the race with that failure', async () => {
  await assert.rejects(withTimeout(Promise.reject(new Error('refused')), 1000, () => 'late'), /refused/)
})

test('a settled race leaves no timer behind to keep the process alive', async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  await withTimeout(Promise.resolve(1), 60_000, () => 0)
  await orTimedOut(Promise.resolve(1), 60_000)
  const afterRace = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  assert.equal(afterRace, before)
})
