import assert from 'node:assert/strict'
import { test } from 'node:test'
import { devicesTable } from '../../loadtest/bench/devices-report.js'
import { runDevices, type Target, type Tuning } from '../../loadtest/bench/devices-scenarios.js'
import { startTestNode } from '../helpers/node.js'

/**
 * Smoke test of the devices harness (`npm run bench:devices`): 200 simulated devices in two
 * worker processes on two loopback source addresses against an in-process node, so the harness
 * keeps working. Asserts the summary numbers are sane, not how fast the machine is.
 */
const tuning: Tuning = {
  devices: 200,
  workers: 2,
  rate: 2000,
  holdMs: 300,
  intervalMs: 1000,
  durationMs: 2000,
  qos: 1,
  version: 5,
  keepaliveSec: 30,
  payloadBytes: 64,
  consumers: 2,
  shared: true,
  commandRate: 200,
  offlineMs: 300,
  sessionExpirySec: 60,
  drainMs: 5000,
  connectTimeoutMs: 10_000,
  maxPending: 100,
  firstAddress: 2,
  progressMs: 500
}

test('devices harness: telemetry from 200 devices through a $share group gives a sane summary', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'log.level': 'warn' })
  const target: Target = { name: 'in-process node', ports: [mqttPort], pids: [process.pid], maxDevices: Infinity }
  const lines: string[] = []
  const r = await runDevices('telemetry', target, tuning, (line) => { lines.push(line) })

  assert.equal(r.devices, 200)
  assert.equal(r.failed, 0)
  assert.equal(r.held, 200, 'every device still connected at the end')
  assert.ok(r.connectRate > 0 && Number.isFinite(r.connectRate), `connect rate ${r.connectRate}`)
  assert.ok(r.connectP50 >= 0 && r.connectP99 >= r.connectP50, `connect p50 ${r.connectP50} p99 ${r.connectP99}`)
  // 200 devices, one message per second each, for 2 s: about 400 messages
  assert.ok(r.sent >= 200 && r.sent <= 400, `sent ${r.sent}`)
  assert.equal(r.delivered, r.sent, 'every telemetry message reached one consumer of the group')
  assert.equal(r.delivery, 1)
  assert.ok(r.msgPerSec > 0)
  assert.ok(r.p50 >= 0 && r.p99 >= r.p50, `latency p50 ${r.p50} p99 ${r.p99}`)
  assert.equal(r.rssKb.length, 1)
  assert.ok(Number.isFinite(r.rssKb[0]), 'RSS per connection is a number')
  assert.match(r.extra, /2 consumers in \$share\//)

  assert.ok(lines.some((l) => /connected \d+\/200/.test(l)), 'progress lines were printed')
  assert.match(devicesTable([r]), /\| telemetry \| in-process node \| 200 \| 200 \| 0 \|/)
})
