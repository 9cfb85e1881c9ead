import { test } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { assignedClientIdScenarios } from '../helpers/protocol-gaps.js'

// One pod: an empty client id gets `starling` + 15 random letters and digits (MQTT 5 Assigned
// Client Identifier, §3.2.2.3.7), 23 characters of [0-9a-zA-Z] [MQTT-3.1.3-5].
// Three pods behind HAProxy: test/cluster/protocol-gaps-haproxy.test.ts.

test('one pod: assigned client identifiers', async (t) => {
  const { mqttPort } = await startTestNode(t)
  await assignedClientIdScenarios(t, { url: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort, prefix: 'one', expirySlackMs: 500 })
})
