import { test } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { ackBeforeResend } from '../helpers/resume-ack-race.js'

// In-memory persistence: PUBACKs for the original packet ids of a resumed session's unacknowledged
// messages, read while the replay runs, make the replay skip those messages (aedes failed the
// connection with "no such packet"). The scenario is in test/helpers/resume-ack-race.ts; the
// Redis store runs it in test/cluster/resume-ack-race.test.ts.

for (const version of [4, 5] as const) {
  test(`${version}: a PUBACK for the original packet id before the resend: the message is skipped, the connection kept [MQTT-4.4.0-1]`, async (t) => {
    const tn = await startTestNode(t)
    await ackBeforeResend(t, tn, version, `ack-race-${version}`)
  })
}
