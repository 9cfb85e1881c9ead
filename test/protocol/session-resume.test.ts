import { test } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { sessionResumeScenarios } from '../helpers/protocol-gaps.js'

// One pod (embedded): Clean Start 0 resumes the session whatever the new Session Expiry, with
// its queue and Message Expiry applied, and the new interval then holds [MQTT-3.1.2-4]
// [MQTT-3.1.2-23] [MQTT-3.3.2-6] (mqtt.js and mosquitto_sub -c -x 0). The same scenarios run on
// three pods behind HAProxy in test/cluster/protocol-gaps-haproxy.test.ts.

test('one pod: resuming a session with Clean Start 0', async (t) => {
  const { mqttPort } = await startTestNode(t)
  await sessionResumeScenarios(t, { url: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort, prefix: 'one', expirySlackMs: 500 })
})
