import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileFilter, filterMatches, isValidFilter, isValidTopicName } from '../../src/broker/topics.js'

test('filter validity [MQTT-4.7.1-1..3]', () => {
  for (const ok of ['#', '+', 'a/#', 'a/+/b', '+/+', '/', 'a//b', '/+', 'sport/tennis/#']) assert.ok(isValidFilter(ok), ok)
  for (const bad of ['', 'a/#/b', 'a+', '#/a', 'a/b#', 'a/+b', 'a\u0000b', '##']) assert.ok(!isValidFilter(bad), bad)
  assert.ok(isValidTopicName('a/b'))
  for (const bad of ['', 'a/+', 'a/#', 'a\u0000']) assert.ok(!isValidTopicName(bad), bad)
})

test('matching follows §4.7 including the parent level and $-topics', () => {
  assert.ok(filterMatches('sport/tennis/player1/#', 'sport/tennis/player1'))
  assert.ok(filterMatches('sport/#', 'sport'))
  assert.ok(filterMatches('+/+', '/finance'))
  assert.ok(!filterMatches('+', '/finance'))
  assert.ok(filterMatches('a/+/c', 'a//c'))
  assert.ok(!filterMatches('#', '$SYS/x'))
  assert.ok(!filterMatches('+/monitor/Clients', '$SYS/monitor/Clients'))
  assert.ok(filterMatches('$SYS/#', '$SYS/monitor/Clients'))
  assert.ok(filterMatches('$SYS/monitor/+', '$SYS/monitor/Clients'))
})

test('compiled filters match exactly as the MQTT matcher', () => {
  const filters = ['#', '+', '+/#', 'a/#', 'a/+', 'a/+/c', '+/b/+', 'a/b', '/#', '+/', '/+', 'a//c', 'a/+/+/#', '$SYS/#', '$SYS/+', 'a.b/(x)/#', 'ü/+/[z]', 'a/\\d']
  const topics = ['a', 'a/b', 'a/b/c', 'a//c', '/a', 'a/', '/', 'b', 'a/b/c/d', '$SYS', '$SYS/x', '$a/b', 'a.b/(x)', 'a.b/(x)/y', 'aXb/(x)/y', 'ü/1/[z]', 'ü/1/z', 'a/\\d', 'a/d', 'a/b\nc', 'x/b/y']
  for (const filter of filters) {
    const compiled = compileFilter(filter)
    for (const topic of topics) assert.equal(compiled(topic), filterMatches(filter, topic), `${filter} vs ${topic}`)
  }
})
