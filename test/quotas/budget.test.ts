import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bucketCapacity, BURST_SECONDS, lease, mayTake, refill, STANDING_TOKENS, wanted } from '../../src/quotas/budget.js'
import { HOUR_MS, MINUTE_MS, MINUTE_RETENTION_MS, planUsage, USAGE_RETENTION_MS } from '../../src/quotas/usage-buckets.js'

test('a rate bucket holds BURST_SECONDS of its rate (at least one token) and starts full', () => {
  assert.equal(bucketCapacity(100), 100 * BURST_SECONDS)
  assert.equal(bucketCapacity(1), 1)
  assert.equal(refill(undefined, 5000, 100), 25)
})

test('a bucket refills at its rate up to its capacity, never backwards in time', () => {
  const state = { tokens: 0, at: 1000 }
  assert.equal(refill(state, 1100, 100), 10)
  assert.equal(refill(state, 1000 + 60_000, 100), 25)
  assert.equal(refill(state, 900, 100), 0, 'a clock read earlier than the stored one adds nothing')
})

test('a lease grants whole tokens, at most what is there, and keeps the fraction', () => {
  const first = lease(undefined, 0, 100, 40)
  assert.equal(first.granted, 25, 'a full bucket gives its capacity, not more')
  assert.equal(first.state.tokens, 0)
  const second = lease(first.state, 15, 100, 40)
  assert.equal(second.granted, 1, '15 ms at 100/s refill 1.5 tokens: one whole one')
  assert.ok(Math.abs(second.state.tokens - 0.5) < 1e-9)
  assert.equal(lease(second.state, 15, 100, 0).granted, 0)
})

test('over T seconds of leases the bucket hands out at most rate × (T + burst)', () => {
  let state
  let granted = 0
  // A greedy taker every 7 ms for 10 s.
  for (let now = 0; now <= 10_000; now += 7) {
    const taken = lease(state, now, 200, 1_000_000)
    state = taken.state
    granted += taken.granted
  }
  assert.ok(granted <= 200 * (10 + BURST_SECONDS), `granted ${granted}`)
  assert.ok(granted >= 200 * 10 * 0.99, `granted ${granted}`)
})

test('a pod asks for twice its demand plus standing tokens while active, less its reserve, at most the capacity', () => {
  assert.equal(wanted(10, 0, 100, true), 20 + STANDING_TOKENS)
  assert.equal(wanted(10, 0, 100, false), 20)
  assert.equal(wanted(10, 5, 100, false), 15)
  assert.equal(wanted(0, 0, 100, true), STANDING_TOKENS, 'standing tokens while the broker is active')
  assert.equal(wanted(0, 0, 100, false), 0)
  assert.equal(wanted(0, STANDING_TOKENS, 100, true), 0)
  assert.equal(wanted(1000, 0, 100, true), 25, 'never more than the bucket holds')
  assert.equal(wanted(0, -7, 100, true), 7 + STANDING_TOKENS, 'a debt is paid first')
  assert.equal(wanted(10, 0, 0, true), 0, 'no quota: nothing leased')
})

test('a reserve admits while positive, so a message larger than the burst still passes', () => {
  assert.equal(mayTake(1), true)
  assert.equal(mayTake(0.5), true)
  assert.equal(mayTake(0), false)
  assert.equal(mayTake(-100), false)
})

test('usage: recent periods are summed by minute, older ones by hour, at most 7 days back', () => {
  const now = Date.UTC(2026, 11, 7, 15, 30, 20)
  const recent = planUsage(now - 10 * MINUTE_MS - 5000, now)
  assert.equal(recent.hours.length, 0)
  assert.equal(recent.minutes.length, 11)
  assert.equal(recent.from, Date.UTC(2026, 11, 7, 15, 20))

  const day = planUsage(now - 24 * HOUR_MS, now)
  assert.equal(day.from, Date.UTC(2026, 11, 6, 15, 0), 'rounded down to its hour')
  // Minutes from the first whole hour still entirely kept (10:00) to now; hours before it.
  const minutesFrom = Math.ceil((now - MINUTE_RETENTION_MS) / HOUR_MS) * HOUR_MS
  assert.equal(day.minutes[0], minutesFrom / MINUTE_MS)
  assert.equal(day.hours[day.hours.length - 1], minutesFrom / HOUR_MS - 1, 'hours and minutes meet without overlap')
  assert.equal(day.hours.length, (minutesFrom - day.from) / HOUR_MS)

  const ever = planUsage(undefined, now)
  assert.ok(ever.from >= now - USAGE_RETENTION_MS - HOUR_MS)
  assert.ok(ever.hours.length <= 7 * 24 + 1)
  assert.ok(ever.minutes.length <= MINUTE_RETENTION_MS / MINUTE_MS + 1)
  assert.equal(planUsage(now - 30 * 24 * HOUR_MS, now).from, ever.from, 'older than 7 days counts from 7 days ago')
})
