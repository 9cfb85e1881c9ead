import { test } from 'node:test'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'
import { ackBeforeResend } from '../helpers/resume-ack-race.js'

// Starling's Redis queue (src/cluster/outgoing-store.ts): PUBACKs for the original packet ids of a
// resumed session's unacknowledged messages, read while the replay runs, make the replay skip the
// messages they removed. The store answered the resend's update without asking Redis, so an
// acknowledged message went out again. Scenario: test/helpers/resume-ack-race.ts.

for (const version of [4, 5] as const) {
  test(`${version}: Redis queue: a PUBACK for the original packet id before the resend: the message is skipped [MQTT-4.4.0-1]`, async (t) => {
    const pods: TestNode[] = []
    t.after(async () => { for (const p of pods) await p.node.close() })
    const redis = await startRedis(t)
    const tn = await startTestNode(undefined, { nodeId: 'pod-a', 'log.level': 'info', 'redis.url': redis.url })
    pods.push(tn)
    await ackBeforeResend(t, tn, version, `ack-race-redis-${version}`)
  })
}
