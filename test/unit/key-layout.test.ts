import assert from 'node:assert/strict'
import { test } from 'node:test'
import { incomingPacketKey, keyPrefix, outgoingQueueKeys } from '../../src/cluster/keys.js'
import { keySlot } from '../../src/cluster/slots.js'
import { keySpread } from '../../loadtest/bench/route-spread.js'

// Redis Cluster key layout (src/cluster/keys.ts): the keys written per client and per topic
// spread evenly over the masters (no hot slot by design); a client's queue and in-flight QoS 2
// packets share one slot (one script, ordered replies).

test('per-client and per-topic keys spread evenly over 3 masters', () => {
  for (const { family, shares } of keySpread(3)) {
    for (const share of shares) assert.ok(share > 0.31 && share < 0.36, `${family}: ${shares.join(', ')}`)
  }
})

test('a client\'s queue keys and its QoS 2 packets awaiting PUBREL share one slot', () => {
  for (const id of ['a', 'device/7', 'x{y}z', 'ünï']) {
    const slots = new Set([...outgoingQueueKeys(id), incomingPacketKey(id, 1), incomingPacketKey(id, 65535)].map((key) => keySlot(keyPrefix() + key)))
    assert.equal(slots.size, 1, id)
  }
})
