import assert from 'node:assert/strict'
import { test } from 'node:test'
import { filterMatches } from '../../src/broker/topics.js'
import { filterSlot, routeKey, topicSlot } from '../../src/cluster/emitter-route.js'
import { emitterShardChannel } from '../../src/cluster/keys.js'
import { keySlot } from '../../src/cluster/slots.js'
import { LAYOUTS, shardOfSlot, spread } from '../../loadtest/bench/route-spread.js'

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

test('$SYS routes on $SYS alone: the pods\' own listeners need one channel', () => {
  for (const levels of [1, 3]) {
    const layout = { channels: 64, levels }
    const sys = topicSlot('$SYS/pod-1/heartbeat', layout)
    assert.equal(filterSlot('$SYS/+/heartbeat', layout), sys)
    assert.equal(filterSlot('$SYS/+/new/clients', layout), sys)
    assert.equal(topicSlot('$SYS', layout), sys)
    assert.notEqual(routeKey('$SYSTEM/a/b', levels), '$SYS', '$SYSTEM is not $SYS')
  }
})

test('default routing (3 levels) spreads single-prefix fleets over the channels and over 3 shards', () => {
  const layout = { channels: 64, levels: 3 }
  for (const { name, topics } of LAYOUTS) {
    const s = spread(topics(), layout, 3)
    assert.equal(s.usedChannels, 64, `${name}: every channel used`)
    assert.ok(s.channelPeak < 1.4, `${name}: busiest channel ${s.channelPeak.toFixed(2)}× the mean`)
    for (const share of s.shardShares) assert.ok(share > 0.28 && share < 0.39, `${name}: shard shares ${s.shardShares.join(', ')}`)
  }
  // the old default put the whole `devices/...` fleet on one channel, hence one shard
  assert.equal(spread(LAYOUTS[0]!.topics(), { channels: 64, levels: 1 }, 3).usedChannels, 1)
  // one topic, one channel (per-topic order)
  assert.equal(topicSlot('devices/7/telemetry', layout), topicSlot('devices/7/telemetry', layout))
  // a device's own subtree stays on one channel; a consumer across devices listens on all
  assert.equal(filterSlot('acme/site1/dev7/#', layout), topicSlot('acme/site1/dev7/temp', layout))
  assert.equal(filterSlot('devices/+/telemetry', layout), 'all')
})

test('sharded channel names: evenly spaced over the slots, so over evenly split masters', () => {
  assert.equal(keySlot('foo'), 12182)
  assert.equal(keySlot('somekey'), 11058)
  assert.equal(keySlot('{user1000}.following'), keySlot('user1000'))
  assert.equal(keySlot('a{}b'), keySlot('a{}b'), 'an empty tag hashes the whole key')
  for (const [channels, shards] of [[64, 3], [64, 4], [16, 3], [1024, 5]] as const) {
    const names = Array.from({ length: channels }, (_, i) => emitterShardChannel(i, channels))
    assert.equal(new Set(names).size, channels)
    const perShard = new Array<number>(shards).fill(0)
    for (const name of names) perShard[shardOfSlot(keySlot(name), shards)]!++
    for (const n of perShard) assert.ok(Math.abs(n - channels / shards) <= 2, `${channels} channels over ${shards} masters: ${perShard.join(', ')}`)
  }
})
