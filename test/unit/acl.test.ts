import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClientAcls, staticRuleList, VERDICT_CACHE_TOPICS } from '../../src/broker/acl.js'
import { filterMayMatchAllowed, topicAllowed, type Policy, type RuleList } from '../../src/broker/acl-policy.js'
import type { AclRule } from '../../src/config/schema.js'
import { loadConfig } from '../../src/config/load.js'

const deny = (filter: string) => ({ filter, allow: false })
const allow = (filter: string) => ({ filter, allow: true })
const list = (otherwise: boolean, ...rules: Array<{ filter: string, allow: boolean }>): RuleList => ({ rules, otherwise })

test('topics: first match wins per list, every list must allow (intersection)', () => {
  const staticList = list(true, deny('secret/#'), allow('open/#'), deny('open/closed'))
  assert.equal(topicAllowed([staticList], 'secret/x'), false)
  assert.equal(topicAllowed([staticList], 'secret'), false, '# matches the parent level [MQTT-4.7.1-2]')
  assert.equal(topicAllowed([staticList], 'open/closed'), true, 'first match wins')
  assert.equal(topicAllowed([staticList], 'else/where'), true, 'no match allows')
  const token = list(false, allow('open/#'), allow('devices/+/state'))
  assert.equal(topicAllowed([staticList, token], 'open/x'), true)
  assert.equal(topicAllowed([staticList, token], 'else/where'), false, 'the allow-list refuses what it does not name')
  assert.equal(topicAllowed([staticList, list(false, allow('#'))], 'secret/x'), false, 'both must allow')
})

test('topics: deny rules cover $-topics, allow rules follow [MQTT-4.7.2-1]', () => {
  assert.equal(topicAllowed([list(true, deny('#'))], '$foo/bar'), false, 'deny-all denies $foo/bar')
  assert.equal(topicAllowed([list(true, deny('+/bar'))], '$foo/bar'), false)
  const sysClosed = [list(true, allow('#'), deny('$SYS/#'))]
  assert.equal(topicAllowed(sysClosed, '$SYS/pod/heartbeat'), false, 'allow # does not reach $SYS, so the deny after it applies')
  assert.equal(topicAllowed(sysClosed, 'a/b'), true)
  assert.equal(topicAllowed([list(false, allow('#'))], '$SYS/x'), false, 'an allow-list # does not grant $-topics')
  assert.equal(topicAllowed([list(false, allow('$SYS/#'))], '$SYS/x'), true)
})

test('subscriptions: granted when the filter can match an allowed topic, refused when it can match none', () => {
  const p: Policy = [list(true, deny('secret/#'))]
  for (const filter of ['#', '+/+', '+/x', 'public/#', '+/secret', '+']) assert.ok(filterMayMatchAllowed(p, filter), filter)
  for (const filter of ['secret/#', 'secret/a', 'secret/+/b', 'secret']) assert.ok(!filterMayMatchAllowed(p, filter), filter)

  const deny3 = [list(true, deny('a'), deny('a/+/#'))]
  assert.ok(!filterMayMatchAllowed(deny3, 'a/#'), 'covered only by the union of two denies')
  assert.ok(filterMayMatchAllowed([list(true, deny('a'), deny('a/+/+/#'))], 'a/#'), 'a/x is left')
  assert.ok(filterMayMatchAllowed([list(true, deny('a/x'), deny('a/y'))], 'a/+'), 'another level value is left')
  assert.ok(!filterMayMatchAllowed([list(true, deny('+/x'), deny('a/+'))], 'a/x'))
})

test('subscriptions: deny-all, whitelists, $SYS', () => {
  assert.ok(!filterMayMatchAllowed([list(true, deny('#'))], '#'))
  assert.ok(!filterMayMatchAllowed([list(true, deny('#'))], '$foo/#'), 'deny # covers $-topics')
  assert.ok(!filterMayMatchAllowed([list(true, deny('#'))], '$foo/bar'))
  const sysClosed = [list(true, allow('#'), deny('$SYS/#'))]
  assert.ok(!filterMayMatchAllowed(sysClosed, '$SYS/#'))
  assert.ok(!filterMayMatchAllowed(sysClosed, '$SYS/+/heartbeat'))
  assert.ok(filterMayMatchAllowed(sysClosed, '#'))
  assert.ok(filterMayMatchAllowed(sysClosed, '$other/x'), 'no rule matches $other/x: default allow')
  const whitelist = [list(true, allow('public/#'), deny('#'))]
  assert.ok(filterMayMatchAllowed(whitelist, '#'))
  assert.ok(filterMayMatchAllowed(whitelist, '+/x'))
  assert.ok(!filterMayMatchAllowed(whitelist, 'private/#'))
  assert.ok(!filterMayMatchAllowed(whitelist, '$SYS/#'))
})

test('subscriptions: a one-level filter and # parent matching', () => {
  assert.ok(filterMayMatchAllowed([list(true, allow('public/#'), deny('#'))], '+'), '`public` matches public/# and +')
  assert.ok(!filterMayMatchAllowed([list(true, allow('public/+'), deny('#'))], '+'))
})

test('subscriptions: the intersection with an allow-list of filters (a token topic ACL)', () => {
  const staticList = list(true, deny('secret/#'))
  const token = list(false, allow('devices/d1/#'), allow('secret/shared'))
  const p: Policy = [staticList, token]
  assert.ok(filterMayMatchAllowed(p, '#'), 'devices/d1/x is allowed by both')
  assert.ok(filterMayMatchAllowed(p, 'devices/+/state'), 'intersects devices/d1/#')
  assert.ok(!filterMayMatchAllowed(p, 'devices/d2/#'), 'outside the token')
  assert.ok(!filterMayMatchAllowed(p, 'secret/#'), 'the token names secret/shared but the static rules deny it')
  assert.ok(!filterMayMatchAllowed(p, '$SYS/#'), 'the token does not name $SYS')
  assert.ok(filterMayMatchAllowed([staticList, list(false, allow('$SYS/#'))], '$SYS/#'), 'an operator token')
  assert.ok(!filterMayMatchAllowed([list(true, deny('a/b/#')), list(false, allow('a/+/c'))], 'a/b/+'), 'the only intersection a/b/c is denied')
  assert.ok(filterMayMatchAllowed([list(true, deny('a/b/#')), list(false, allow('a/+/c'))], 'a/+/+'), 'a/x/c')
})

test('subscriptions: past the search budget the answer is a grant (delivery still filters)', () => {
  const p: Policy = [list(true, deny('a/b/c/d'), deny('x/#'))]
  assert.equal(filterMayMatchAllowed(p, 'x/#', 1), true)
  assert.equal(filterMayMatchAllowed(p, 'x/#'), false)
})

/** A small deterministic generator for the cross-check below. */
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

test('subscriptions agree with a brute-force search over every topic of a small universe', () => {
  const random = rng(12)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
  const literals = ['a', 'b', '$x', '']
  const filter = (): string => {
    const n = 1 + Math.floor(random() * 3)
    const levels: string[] = []
    for (let i = 0; i < n; i++) levels.push(i === n - 1 && random() < 0.3 ? '#' : pick([...literals, '+', '+']))
    return levels.join('/')
  }
  // Values no rule names ('z', '$z') stand for all the others; lengths up to one past the longest filter.
  const universe: string[] = []
  const values = [...literals, 'z', '$z']
  const extend = (prefix: string[]): void => {
    if (prefix.length > 0) universe.push(prefix.join('/'))
    if (prefix.length === 4) return
    for (const v of values) extend([...prefix, v])
  }
  extend([])
  for (let round = 0; round < 400; round++) {
    const policy: Policy = [list(true, ...Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ filter: filter(), allow: random() < 0.4 })))]
    const withToken = random() < 0.5 ? [...policy, list(false, ...Array.from({ length: 1 + Math.floor(random() * 2) }, () => allow(filter())))] : policy
    const sub = filter()
    const rules = JSON.stringify(withToken)
    const expected = universe.some((topic) => filterMatchesSpec(sub, topic) && topicAllowed(withToken, topic))
    assert.equal(filterMayMatchAllowed(withToken, sub), expected, `${sub} under ${rules}`)
  }
})

function filterMatchesSpec (filter: string, topic: string): boolean {
  return topicAllowed([list(false, allow(filter))], topic)
}

test('ClientAcls: the config rules per action, shared identities, token intersection', () => {
  const rules: AclRule[] = [
    { action: 'subscribe', topic: 'secret/#', allow: false },
    { action: 'publish', topic: 'readonly/+', allow: false },
    { action: 'all', topic: 'open/#', allow: true },
    { action: 'all', topic: 'open/closed', allow: false }
  ]
  assert.deepEqual(staticRuleList(rules, 'publish').rules.map((r) => r.filter), ['readonly/+', 'open/#', 'open/closed'])
  const acls = new ClientAcls(rules)
  assert.ok(acls.restricts)
  const acl = acls.resolve()
  assert.equal(acls.resolve(), acl, 'one identity for the config file rules')
  assert.ok(acl.maySubscribe('#'), 'a broad filter is granted')
  assert.ok(!acl.maySubscribe('secret/a'))
  assert.ok(!acl.mayRead('secret/a'))
  assert.ok(acl.mayRead('public/a'))
  assert.ok(acl.mayPublish('secret/a'), 'publish is not covered by the subscribe rule')
  assert.ok(!acl.mayPublish('readonly/x'))
  assert.ok(acl.mayPublish('readonly/x/y'))
  assert.ok(acl.mayPublish('open/closed'), 'first match wins')

  const token = acls.resolve({ token: { publish: ['devices/d1/#'], subscribe: ['devices/d1/#', 'secret/x'] } })
  assert.equal(acls.resolve({ token: { publish: ['devices/d1/#'], subscribe: ['devices/d1/#', 'secret/x'] } }), token)
  assert.ok(token.mayPublish('devices/d1/up'))
  assert.ok(!token.mayPublish('devices/d2/up'))
  assert.ok(!token.mayPublish('readonly/x'), 'both must allow')
  assert.ok(token.maySubscribe('#'))
  assert.ok(!token.maySubscribe('secret/#'), 'secret/x is named by the token but denied by the config')
  assert.ok(!token.mayRead('secret/x'))
  assert.ok(token.mayRead('devices/d1/state'))
  assert.ok(!token.mayRead('public/a'))

  const onlySubscribe = acls.resolve({ token: { subscribe: ['a/#'] } })
  assert.ok(onlySubscribe.mayPublish('anything'), 'no publish list in the token: the config decides')
})

test("ClientAcls: a tenant broker's rules and a token, both intersected with the config file's", () => {
  const acls = new ClientAcls([{ action: 'subscribe', topic: 'secret/#', allow: false }], () => ({ rules: [{ action: 'all', topic: 'b/#', allow: false }], token: { subscribe: ['#'] } }))
  const client = { id: 'c1' } as never
  const acl = acls.of(client)
  assert.equal(acls.of(client), acl, 'resolved once per client')
  assert.ok(acl.maySubscribe('#'))
  assert.ok(!acl.maySubscribe('b/#'), 'the broker rule')
  assert.ok(!acl.maySubscribe('secret/#'), 'the config rule')
  assert.ok(!acl.maySubscribe('$SYS/#'), 'the token names only #, which does not reach $SYS')
  assert.ok(!acl.mayPublish('b/x') && acl.mayPublish('a/x'), 'no publish list in the token')
})

test('ClientAcls: no rules and no token source restrict nothing but the grant-only $SYS and $trigger', () => {
  const acls = new ClientAcls([])
  assert.equal(acls.restricts, false, 'no delivery check installed')
  const acl = acls.resolve()
  assert.ok(acl.maySubscribe('#') && acl.maySubscribe('$app/#') && acl.mayRead('$app/x') && acl.mayPublish('a'))
  for (const filter of ['$SYS/#', '$SYS', '$SYS/+/heartbeat', '$trigger/#', '$trigger/a/b']) assert.ok(!acl.maySubscribe(filter), filter)
  assert.ok(!acl.mayRead('$SYS/x') && !acl.mayRead('$trigger/x'))
})

test('ClientAcls: a grant in any rule set lifts the $SYS / $trigger default; a deny in any set still applies', () => {
  const config = new ClientAcls([{ action: 'subscribe', topic: '$SYS/#', allow: true }])
  assert.ok(config.resolve().maySubscribe('$SYS/#'))
  assert.ok(!config.resolve().maySubscribe('$trigger/#'), 'a $SYS grant is not a $trigger grant')
  assert.ok(!new ClientAcls([{ action: 'subscribe', topic: '#', allow: true }]).resolve().maySubscribe('$SYS/#'), 'allow # is no grant [MQTT-4.7.2-1]')
  assert.ok(!new ClientAcls([{ action: 'publish', topic: '$SYS/#', allow: true }]).resolve().maySubscribe('$SYS/#'), 'a publish rule is no read grant')
  assert.ok(new ClientAcls([{ action: 'all', topic: '$trigger/+/x', allow: true }]).resolve().maySubscribe('$trigger/a/x'))

  const acls = new ClientAcls([{ action: 'subscribe', topic: '$SYS/secret/#', allow: false }])
  const operator = acls.resolve({ token: { subscribe: ['$SYS/#', 'a/#'] } })
  assert.ok(operator.maySubscribe('$SYS/#') && operator.mayRead('$SYS/pod/x'), "the token's grant")
  assert.ok(!operator.mayRead('$SYS/secret/x'), "the config file's deny")
  assert.ok(!acls.resolve({ token: { subscribe: ['#'] } }).maySubscribe('$SYS/#'))
  assert.ok(acls.resolve({ rules: [{ action: 'subscribe', topic: '$trigger/#', allow: true }] }).maySubscribe('$trigger/#'), "a tenant broker's grant")
})

test('ClientAcls: the per-delivery check is skipped only where every subscription the client holds can match only topics it may read', () => {
  const open = new ClientAcls([], () => undefined)
  assert.equal(open.restricts, true, 'a rule source: the delivery step is installed')
  assert.equal(open.resolve().checksDelivery, false, 'only the ungranted $SYS/$trigger default: refused at SUBSCRIBE already')
  assert.equal(open.resolve({ rules: [{ action: 'publish', topic: 'a/#', allow: false }] }).checksDelivery, false, 'publish rules do not restrict reading')
  assert.equal(open.resolve({ rules: [{ action: 'subscribe', topic: 'secret/#', allow: false }] }).checksDelivery, true, '# is granted, secret/x must be refused per message')
  assert.equal(open.resolve({ token: { subscribe: ['a/#'] } }).checksDelivery, true, 'an allow-list')
  const granted = open.resolve({ token: { subscribe: ['$SYS/pod/#', '#'] } })
  assert.ok(granted.checksDelivery && granted.maySubscribe('$SYS/#') && !granted.mayRead('$SYS/other'), 'a grant narrower than a filter it lets through: $SYS/# is granted, $SYS/other refused per message')
  assert.equal(new ClientAcls([{ action: 'all', topic: 'x/#', allow: false }]).resolve().checksDelivery, true, "the config file's rules")
})

test('verdict caches stay bounded and correct past their size', () => {
  const acl = new ClientAcls([{ action: 'subscribe', topic: 'secret/#', allow: false }]).resolve()
  for (let i = 0; i < VERDICT_CACHE_TOPICS * 2; i++) {
    assert.equal(acl.mayRead(`t/${i}`), true)
    if (i % 1000 === 0) assert.equal(acl.mayRead(`secret/${i}`), false)
  }
  assert.equal(acl.mayRead('secret/0'), false)
})

test('config: every rule topic is a valid filter; a bad one is named at start', () => {
  const load = (acl: unknown): unknown => loadConfig({ overrides: { acl } } as never)
  assert.throws(() => load([{ action: 'subscribe', topic: 'a/#/b', allow: false }]),
    (err: Error & { code?: string }) => err.code === 'STARLING_ERR_CONFIG_INVALID' && /acl\.0\.topic: not a valid topic filter/.test(err.message))
  assert.throws(() => load([{ action: 'all', topic: 'ok/#', allow: true }, { action: 'all', topic: 'x+', allow: false }]), /acl\.1\.topic/)
  assert.throws(() => load([{ action: 'all', topic: '$share/g/#', allow: false }]), /acl\.0\.topic: a rule names topics/)
  assert.doesNotThrow(() => load([{ action: 'all', topic: '$SYS/#', allow: false }, { action: 'all', topic: '+/+', allow: true }]))
})
