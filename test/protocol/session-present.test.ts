import { test } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { sessionPresentScenarios } from '../helpers/protocol-gaps.js'

// One pod (embedded): Session Present says whether a session existed, subscriptions or not, on
// every combination of Clean Start and Session Expiry (MQTT 5) and Clean Session (3.1.1)
// [MQTT-3.2.2-2] [MQTT-3.2.2-1]. Three pods behind HAProxy: test/cluster/protocol-gaps-haproxy.test.ts.

test('one pod: Session Present for sessions without subscriptions', async (t) => {
  const { mqttPort } = await startTestNode(t)
  await sessionPresentScenarios(t, { url: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort, prefix: 'one', expirySlackMs: 500 })
})
