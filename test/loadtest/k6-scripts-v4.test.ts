import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runScript, setUpK6, sum, values } from './k6-script-runner.js'

// MQTT 3.1.1, QoS 2, one shared USERNAME/PASSWORD (no credentials file given to the devices).
const DEVICES = 8
setUpK6(DEVICES, { MQTT_VERSION: '4', QOS: '2', CREDENTIALS: '', USERNAME: 'fleet', PASSWORD: 'secret' })

test('3.1.1 at QoS 2: command-fanout delivers exactly once', async () => {
  await runScript('command-fanout')
  assert.ok(sum('mqtt_messages_sent') >= 20)
  assert.equal(sum('mqtt_messages_delivered'), sum('mqtt_messages_sent'))
  assert.equal(sum('mqtt_messages_duplicated'), 0)
})

test('3.1.1 at QoS 2: reconnect-storm resumes clean-session-0 sessions and delivers the queued commands', async () => {
  await runScript('reconnect-storm')
  assert.equal(values('mqtt_connect_success{phase:reconnect}').length, DEVICES)
  assert.equal(sum('mqtt_session_resumed'), DEVICES)
  assert.equal(sum('mqtt_messages_delivered'), DEVICES)
})

test('3.1.1 at QoS 2: telemetry-fanin through a $share group', async () => {
  await runScript('telemetry-fanin')
  assert.ok(sum('mqtt_messages_sent') >= DEVICES)
  assert.equal(sum('mqtt_messages_lost'), 0)
})
