import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isStarlingError } from '../../src/errors.js'
import { compileFilter, filterMatches } from '../../src/broker/topics.js'
import { filterSlot, routeKey, topicSlot } from '../../src/cluster/emitter-route.js'
import { isTenantTopic, mountedWill, mountFor, mountLength } from '../../src/tenancy/mount.js'
import { DEFAULT_TENANT, endpointOf, selectTenant } from '../../src/tenancy/select.js'
import { ALPHA, BETA, brokersOf, DOMAIN } from '../helpers/tenancy.js'

const deps = { findBroker: brokersOf([ALPHA, BETA]), domain: DOMAIN }

test('endpointOf: <broker>.<namespace>.<domain>, case-insensitive, nothing else', () => {
  assert.deepEqual(endpointOf(`alpha.acme.${DOMAIN}`, DOMAIN), { namespace: 'acme', broker: 'alpha' })
  assert.deepEqual(endpointOf(`Alpha.ACME.${DOMAIN.toUpperCase()}.`, DOMAIN), { namespace: 'acme', broker: 'alpha' })
  for (const name of [DOMAIN, `acme.${DOMAIN}`, `x.alpha.acme.${DOMAIN}`, 'alpha.acme.other.test', '127.0.0.1', `al_pha.acme.${DOMAIN}`, `-a.acme.${DOMAIN}`, undefined]) {
    assert.equal(endpointOf(name, DOMAIN), undefined, String(name))
  }
  assert.equal(endpointOf(`alpha.acme.${DOMAIN}`, ''), undefined, 'no domain: no endpoint selection')
})

test('selectTenant: token, then endpoint, then the default broker (no mount)', () => {
  assert.deepEqual(selectTenant({}, deps), DEFAULT_TENANT)
  assert.deepEqual(selectTenant({ serverName: 'localhost' }, deps), DEFAULT_TENANT)
  assert.deepEqual(selectTenant({ serverName: `alpha.acme.${DOMAIN}` }, deps),
    { namespace: 'acme', broker: 'alpha', brokerId: ALPHA.id, mount: `$t/${ALPHA.id}/` })
  assert.deepEqual(selectTenant({ token: { namespace: 'acme', broker: 'beta' } }, deps).mount, `$t/${BETA.id}/`)
  assert.deepEqual(selectTenant({ serverName: `beta.acme.${DOMAIN}`, token: { namespace: 'acme', broker: 'beta' } }, deps).brokerId, BETA.id)
  // A store that lists the default broker: still no mount (today's topics and stored data).
  const withDefault = { ...deps, findBroker: brokersOf([{ namespace: 'default', name: 'default', id: '01HDEFAULT' }]) }
  assert.equal(selectTenant({}, withDefault).mount, '')
  assert.equal(selectTenant({}, withDefault).brokerId, '01HDEFAULT')
})

test('selectTenant refuses an unknown broker and a token for another endpoint with 0x87 / 5', () => {
  assert.throws(() => selectTenant({ serverName: `ghost.acme.${DOMAIN}` }, deps),
    (err) => isStarlingError(err, 'STARLING_ERR_TENANT_UNKNOWN') && err.reasonCode === 0x87 && err.returnCode === 5)
  assert.throws(() => selectTenant({ token: { namespace: 'acme', broker: 'ghost' } }, deps), (err) => isStarlingError(err, 'STARLING_ERR_TENANT_UNKNOWN'))
  assert.throws(() => selectTenant({ serverName: `alpha.acme.${DOMAIN}`, token: { namespace: 'acme', broker: 'beta' } }, deps),
    (err) => isStarlingError(err, 'STARLING_ERR_TENANT_MISMATCH') && err.reasonCode === 0x87)
})

test('mount names: `$t/<id>/`, reserved for clients also inside $share', () => {
  const mount = mountFor(ALPHA.id)
  assert.equal(mount, `$t/${ALPHA.id}/`)
  assert.equal(mountLength(`${mount}a/b`), mount.length)
  assert.equal(mountLength('$t'), 0)
  assert.equal(mountLength('$SYS/x'), 0)
  assert.throws(() => mountFor('a/b'))
  for (const topic of ['$t/x/y', '$t', '$share/g/$t/x/#', '$share/g/$t']) assert.ok(isTenantTopic(topic), topic)
  for (const topic of ['t/x', '$tx/y', '$share/g/t/x', '$SYS/x', 'a/$t/b']) assert.ok(!isTenantTopic(topic), topic)
  assert.equal(mountedWill(`${mount}dev`, { topic: 'will/x' }).topic, `${mount}will/x`)
  assert.equal(mountedWill('dev', { topic: 'will/x' }).topic, 'will/x')
})

test('topic rules inside a mount: the tenant\'s `#` skips its own `$` topics; no unmounted wildcard reaches a mount [MQTT-4.7.2-1]', () => {
  const m = mountFor(ALPHA.id)
  const other = mountFor(BETA.id)
  const cases: Array<[string, string, boolean]> = [
    [`${m}#`, `${m}a/b`, true],
    [`${m}+/b`, `${m}a/b`, true],
    [`${m}#`, `${m}$SYS/pod/new/clients`, false],
    [`${m}+/x`, `${m}$trigger/x`, false],
    [`${m}$SYS/#`, `${m}$SYS/pod/new/clients`, true],
    [`${m}$trigger/+`, `${m}$trigger/x`, true],
    ['#', `${m}a/b`, false],
    ['+/+/a/b', `${m}a/b`, false],
    [`${m}#`, `${other}a/b`, false],
    ['#', 'a/b', true],
    ['#', '$SYS/x', false]
  ]
  for (const [filter, topic, expected] of cases) {
    assert.equal(filterMatches(filter, topic), expected, `${filter} ${topic}`)
    assert.equal(compileFilter(filter)(topic), expected, `compiled ${filter} ${topic}`)
  }
})

test('bus routing after the mount: tenants and their topics spread over the channels, one topic one channel', () => {
  const layout = { channels: 64, levels: 1 }
  const a = mountFor(ALPHA.id)
  assert.equal(routeKey(`${a}sensors/1/temp`, 1), `${a}sensors`)
  assert.equal(routeKey('sensors/1/temp', 1), 'sensors')
  assert.equal(topicSlot(`${a}sensors/1`, layout), topicSlot(`${a}sensors/2`, layout))
  assert.equal(filterSlot(`${a}sensors/#`, layout), topicSlot(`${a}sensors/1`, layout))
  assert.equal(filterSlot(`${a}#`, layout), 'all')
  // Every tenant's $SYS on one channel: the pods' takeover listener does not need them all.
  assert.equal(filterSlot('$t/+/$SYS/+/new/clients', layout), topicSlot(`${a}$SYS/pod-1/new/clients`, layout))
  assert.equal(filterSlot(`${a}$SYS/#`, layout), topicSlot(`$t/OTHER/$SYS/pod-1/new/clients`, layout))
  // Many tenants do not share one channel.
  const slots = new Set(Array.from({ length: 50 }, (_, i) => topicSlot(`$t/01TENANT${i}/devices/x`, layout)))
  assert.ok(slots.size > 20, `${slots.size} channels for 50 tenants`)
  const topics = new Set(Array.from({ length: 50 }, (_, i) => topicSlot(`${a}site${i}/x`, layout)))
  assert.ok(topics.size > 20, `${topics.size} channels for 50 first levels of one tenant`)
})
