import assert from 'node:assert/strict'
import { test } from 'node:test'
import { filterMatches } from '../../src/broker/topics.js'
import { filterSlot, routeKey, topicSlot } from '../../src/cluster/emitter-route.js'

// The cluster emitter's routing (src/cluster/emitter-route.ts): a filter must listen on the channel
// of every topic it matches, or a pod would miss messages.

const TOPICS = ['a', 'a/b', 'a/b/c', 'a/x/c', '/a', 'a/', '', 'b/b', '$SYS/p/heartbeat', '$app/a', 'g/[ab]', 'g/a*', 'i?', 'sensors/1/temp', 'sensors']
const FILTERS = ['#', '+', '+/#', 'a', 'a/#', 'a/+', 'a/+/c', 'a/b/#', '+/b', '/+', '+/', 'a/b/c', '$SYS/+/heartbeat', '$app/#', 'g/[ab]', 'g/+', 'sensors/+/temp', 'sensors/#']

test('route key: the first levels of a topic, or all of it', () => {
  assert.equal(routeKey('a/b/c', 1), 'a')
  assert.equal(routeKey('a/b/c', 2), 'a/b')
  assert.equal(routeKey('a/b/c', 5), 'a/b/c')
  assert.equal(routeKey('/x', 1), '')
  assert.equal(routeKey('a', 1), 'a')
})

test('every filter listens on the channel of every topic it matches', () => {
  for (const channels of [1, 2, 7, 64]) {
    for (const levels of [1, 2, 3]) {
      const layout = { channels, levels }
      for (const filter of FILTERS) {
        const slot = filterSlot(filter, layout)
        for (const topic of TOPICS) {
          // the emitter's local matcher (mqemitter) also matches `$` topics with `#` and `+/…`
          // (aedes drops them per client [MQTT-4.7.2-1]); cover those too
          const matches = filterMatches(filter, topic) || filterMatches(filter, topic.replace(/^\$/, '_'))
          if (!matches) continue
          const t = topicSlot(topic, layout)
          assert.ok(slot === 'all' || slot === t, `${filter} → ${slot}, ${topic} → ${t} (channels ${channels}, levels ${levels})`)
          assert.ok(t >= 0 && t < channels)
        }
      }
    }
  }
})

test('a literal first level means one channel; a wildcard in the route key means all', () => {
  const layout = { channels: 64, levels: 1 }
  assert.equal(filterSlot('sensors/+/temp', layout), topicSlot('sensors/1/temp', layout))
  assert.equal(filterSlot('sensors/#', layout), topicSlot('sensors', layout))
  assert.equal(filterSlot('#', layout), 'all')
  assert.equal(filterSlot('+/x', layout), 'all')
  assert.equal(filterSlot('a/#', { channels: 64, levels: 2 }), 'all')
  assert.equal(filterSlot('a/b/#', { channels: 64, levels: 2 }), topicSlot('a/b/z', { channels: 64, levels: 2 }))
})
