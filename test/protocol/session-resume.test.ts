import { test, type TestContext } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { assignedClientIdScenarios, sessionPresentScenarios, sessionResumeScenarios, type GapsTarget } from '../helpers/protocol-gaps.js'

// One pod (embedded): Clean Start 0 resumes the session whatever the new Session Expiry, with
// its queue and Message Expiry applied [MQTT-3.1.2-4] [MQTT-3.3.2-6]; Session Present says
// whether a session existed, subscriptions or not [MQTT-3.2.2-2]; assigned client ids.
// The same scenarios run on three pods behind HAProxy in test/cluster/protocol-gaps-haproxy.test.ts.

async function target (t: TestContext): Promise<GapsTarget> {
  const { mqttPort } = await startTestNode(t)
  return { url: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort, prefix: 'one', expirySlackMs: 500 }
}

test('one pod: resuming a session with Clean Start 0', async (t) => {
  await sessionResumeScenarios(t, await target(t))
})

test('one pod: Session Present for sessions without subscriptions', async (t) => {
  await sessionPresentScenarios(t, await target(t))
})

test('one pod: assigned client identifiers', async (t) => {
  await assignedClientIdScenarios(t, await target(t))
})
