import assert from 'node:assert/strict'
import { test } from 'node:test'
import { VerifiedTokenCache, type VerifiedEntry } from '../../src/auth/verified-tokens.js'

const NOW = 1_800_000_000_000
const entry = (extra: Partial<VerifiedEntry> = {}, exp?: number): VerifiedEntry => ({
  brokerId: 'b1', audience: 'east.ns', kid: 'k1', notBefore: undefined,
  grant: { clientId: 'c1', jti: 'j1', expiresAt: exp, topicAcl: undefined },
  ...extra
})
const active = (kid: string): boolean => kid === 'k1'

test('a remembered token holds only for its broker, audience and an active key', () => {
  const cache = new VerifiedTokenCache(10)
  cache.set('t', entry())
  assert.equal(cache.get('t', 'b1', 'east.ns', active, NOW, 5)?.clientId, 'c1')
  assert.equal(cache.get('t', 'b2', 'east.ns', active, NOW, 5), undefined, 'another broker id')
  cache.set('t', entry())
  assert.equal(cache.get('t', 'b1', 'west.ns', active, NOW, 5), undefined, 'another audience')
  cache.set('t', entry())
  assert.equal(cache.get('t', 'b1', 'east.ns', () => false, NOW, 5), undefined, 'its key retired')
  assert.equal(cache.size, 0, 'a failed check forgets the entry')
  assert.equal(cache.get('unknown', 'b1', 'east.ns', active, NOW, 5), undefined)
})

test('exp and nbf are checked on every hit, with the clock tolerance as jose applies it', () => {
  const cache = new VerifiedTokenCache(10)
  const now = NOW / 1000
  cache.set('t', entry({}, now + 10))
  assert.ok(cache.get('t', 'b1', 'east.ns', active, NOW, 5))
  assert.ok(cache.get('t', 'b1', 'east.ns', active, NOW + 14_000, 5), 'within the tolerance')
  assert.equal(cache.get('t', 'b1', 'east.ns', active, NOW + 15_000, 5), undefined, 'exp <= now - tolerance')
  cache.set('t', entry({ notBefore: now + 60 }))
  assert.equal(cache.get('t', 'b1', 'east.ns', active, NOW, 5), undefined, 'not yet valid')
})

test('bounded: the least recently used entry goes first; max 0 keeps nothing', () => {
  const cache = new VerifiedTokenCache(2)
  cache.set('a', entry())
  cache.set('b', entry())
  assert.ok(cache.get('a', 'b1', 'east.ns', active, NOW, 5), 'a used: b is now the oldest')
  cache.set('c', entry())
  assert.equal(cache.size, 2)
  assert.equal(cache.get('b', 'b1', 'east.ns', active, NOW, 5), undefined)
  assert.ok(cache.get('a', 'b1', 'east.ns', active, NOW, 5))
  assert.ok(cache.get('c', 'b1', 'east.ns', active, NOW, 5))
  cache.forgetBroker('b1')
  assert.equal(cache.size, 0)
  const none = new VerifiedTokenCache(0)
  none.set('a', entry())
  assert.equal(none.size, 0)
})
