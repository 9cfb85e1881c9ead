import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FailureThrottle } from '../../src/auth/failure-throttle.js'

function throttle (overrides: Partial<ConstructorParameters<typeof FailureThrottle>[0]> = {}): { t: FailureThrottle, clock: { now: number } } {
  const clock = { now: 1_000_000 }
  const t = new FailureThrottle({ baseDelayMs: 100, maxDelayMs: 5000, forgetMs: 60_000, maxAddresses: 3, clock: () => clock.now, ...overrides })
  return { t, clock }
}

test('the delay doubles with each failure of an address, up to the bound, and only for that address', () => {
  const { t } = throttle()
  assert.equal(t.delayMs('10.0.0.1'), 0)
  const seen: number[] = []
  for (let i = 0; i < 8; i++) { t.recordFailure('10.0.0.1'); seen.push(t.delayMs('10.0.0.1')) }
  assert.deepEqual(seen, [100, 200, 400, 800, 1600, 3200, 5000, 5000])
  assert.equal(t.delayMs('10.0.0.2'), 0)
  assert.equal(t.delayMs(undefined), 0)
  for (let i = 0; i < 100; i++) t.recordFailure('10.0.0.1')
  assert.equal(t.delayMs('10.0.0.1'), 5000, 'bounded however many failures')
})

test('an address is forgotten forgetMs after its last failure; at most maxAddresses are kept, the longest quiet dropped first', () => {
  const { t, clock } = throttle()
  t.recordFailure('a')
  t.recordFailure('a')
  clock.now += 60_001
  assert.equal(t.delayMs('a'), 0)
  t.recordFailure('a')
  assert.equal(t.delayMs('a'), 100, 'counting starts again')
  t.recordFailure('b')
  t.recordFailure('c')
  t.recordFailure('a') // a fails again: now the most recent
  t.recordFailure('d') // over 3: b (quiet longest) goes
  assert.equal(t.size, 3)
  assert.equal(t.delayMs('b'), 0)
  assert.equal(t.delayMs('a'), 200)
  assert.equal(t.delayMs('d'), 100)
})

test('maxDelayMs 0 turns the slow-down off and remembers nothing', () => {
  const { t } = throttle({ maxDelayMs: 0 })
  t.recordFailure('a')
  assert.equal(t.delayMs('a'), 0)
  assert.equal(t.size, 0)
})
