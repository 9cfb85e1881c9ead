import assert from 'node:assert/strict'
import { test } from 'node:test'
import { allowsPublish, allowsSubscribe } from '../../src/auth/token-acl.js'

test('allowsPublish: a topic matching one publish filter; no list: no limit; an empty list: nothing', () => {
  assert.equal(allowsPublish(undefined, 'any/topic'), true)
  assert.equal(allowsPublish({ subscribe: ['x'] }, 'any/topic'), true, 'a token limiting only subscriptions')
  assert.equal(allowsPublish({ publish: [] }, 'a'), false)
  const acl = { publish: ['devices/d1/#', 'status/+'] }
  assert.equal(allowsPublish(acl, 'devices/d1'), true, '# matches the parent level [MQTT-4.7.1-2]')
  assert.equal(allowsPublish(acl, 'devices/d1/temp/c'), true)
  assert.equal(allowsPublish(acl, 'devices/d2/temp'), false)
  assert.equal(allowsPublish(acl, 'status/d1'), true)
  assert.equal(allowsPublish(acl, 'status/d1/extra'), false)
  assert.equal(allowsPublish({ publish: ['#'] }, '$SYS/x'), false, 'a wildcard first level never matches $ topics [MQTT-4.7.2-1]')
})

test('allowsSubscribe: the filter must be covered by one subscribe filter (every topic it can match is allowed)', () => {
  assert.equal(allowsSubscribe(undefined, '#'), true)
  assert.equal(allowsSubscribe({ publish: ['x'] }, '#'), true)
  assert.equal(allowsSubscribe({ subscribe: [] }, 'a'), false)
  const acl = { subscribe: ['devices/d1/commands/+', 'broadcast/#'] }
  assert.equal(allowsSubscribe(acl, 'devices/d1/commands/+'), true)
  assert.equal(allowsSubscribe(acl, 'devices/d1/commands/reboot'), true)
  assert.equal(allowsSubscribe(acl, 'devices/d1/commands/#'), false, '# also matches deeper levels')
  assert.equal(allowsSubscribe(acl, 'devices/+/commands/reboot'), false, '+ reaches other devices')
  assert.equal(allowsSubscribe(acl, 'devices/#'), false)
  assert.equal(allowsSubscribe(acl, 'broadcast'), true, 'broadcast/# covers its parent level')
  assert.equal(allowsSubscribe(acl, 'broadcast/+/x'), true)
  assert.equal(allowsSubscribe(acl, '#'), false)
  assert.equal(allowsSubscribe({ subscribe: ['#'] }, '#'), true)
  assert.equal(allowsSubscribe({ subscribe: ['#'] }, '$SYS/#'), false, '# does not cover $ topics [MQTT-4.7.2-1]')
  assert.equal(allowsSubscribe({ subscribe: ['+/x'] }, '$SYS/x'), false)
  assert.equal(allowsSubscribe({ subscribe: ['$SYS/#'] }, '$SYS/broker/clients'), true, 'an explicit $SYS grant')
})
