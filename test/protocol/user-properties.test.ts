import { test } from 'node:test'
import { startTestNode } from '../helpers/node.js'
import { userPropertyScenarios } from '../helpers/protocol-gaps.js'

// One pod: User Properties keep their order, repeated names included, live, from the offline
// queue and through a shared group [MQTT-3.3.2-18] (mosquitto_pub -D publish user-property …,
// mosquitto_sub -F %P, mqtt.js). Three pods: test/cluster/protocol-gaps-haproxy.test.ts.

test('one pod: User Properties keep their order', async (t) => {
  const { mqttPort } = await startTestNode(t)
  await userPropertyScenarios(t, { url: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort, prefix: 'one', expirySlackMs: 500 })
})
