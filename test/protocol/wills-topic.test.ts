import { test } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { willTopicScenarios } from '../helpers/protocol-gaps.js'

// One pod: a will topic with `+`, `#` or no character is refused at CONNECT (CONNACK 0x90 in
// MQTT 5, the connection closed in 3.1.1), so no will is ever published with a literal wildcard
// [MQTT-3.1.3-11] [MQTT-4.7.1-1] [MQTT-4.7.3-1]. mosquitto_sub refuses such a --will-topic
// itself, so only mqtt.js can send it. Three pods: test/cluster/protocol-gaps-haproxy.test.ts.

test('one pod: will topics must be topic names', async (t) => {
  const { mqttPort } = await startTestNode(t)
  await willTopicScenarios(t, { url: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort, prefix: 'one', expirySlackMs: 500 })
})
