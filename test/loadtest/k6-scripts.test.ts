import assert from 'node:assert/strict'
import { test } from 'node:test'
import { count, runScript, setUpK6, sum, values } from './k6-script-runner.js'

// MQTT 5, QoS 1, per-device credentials from a CSV file.
const DEVICES = 12
const { node } = setUpK6(DEVICES, { MQTT_VERSION: '5', QOS: '1' })

test('connect-storm holds every device (credentials from a CSV file) and meets its thresholds', async () => {
  await runScript('connect-storm')
  assert.equal(count('mqtt_connect_success'), DEVICES)
  const ids = node().logs.lines.filter((l) => l.msg === 'client connected' && l.listener === 'ws').map((l) => l.clientId)
  assert.ok(Array.from({ length: DEVICES }, (_, i) => `dev-${i}`).every((id) => ids.includes(id)), 'client ids come from the credentials file')
  assert.ok(count('mqtt_ping_rtt') > 0, 'keep-alive pings answered')
})

test('telemetry-fanin delivers every message to the shared-subscription consumers', async () => {
  await runScript('telemetry-fanin')
  assert.ok(sum('mqtt_messages_sent') >= DEVICES, 'every device published')
  assert.equal(sum('mqtt_messages_delivered'), sum('mqtt_messages_sent'))
  assert.equal(sum('mqtt_messages_lost'), 0)
})

test('command-fanout delivers commands to the devices', async () => {
  await runScript('command-fanout')
  assert.ok(sum('mqtt_messages_sent') >= 20)
  assert.equal(sum('mqtt_messages_delivered'), sum('mqtt_messages_sent'))
})

test('retained-reads: every device reads its retained state', async () => {
  await runScript('retained-reads')
  assert.equal(count('mqtt_retained_ok'), DEVICES)
  assert.equal(sum('mqtt_retained_ok'), DEVICES)
})

test('reconnect-storm: devices drop, return to their sessions and get the commands queued meanwhile', async () => {
  await runScript('reconnect-storm')
  assert.equal(values('mqtt_connect_success{phase:reconnect}').length, DEVICES)
  assert.equal(sum('mqtt_session_resumed'), DEVICES)
  assert.equal(sum('mqtt_messages_delivered'), DEVICES)
})
