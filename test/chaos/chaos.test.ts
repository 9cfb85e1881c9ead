import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatReport } from '../../loadtest/chaos/report.js'
import { runChaos } from '../../loadtest/chaos/run.js'

// The short chaos run (the long one: `npm run chaos -- --minutes 10`, docs/reliability.md):
// redis-server with AOF, three `starling serve` pods behind HAProxy (PROXY protocol v2, /readyz
// checks), persistent-session publishers at QoS 1 and 2 (MQTT 5 and 3.1.1), two subscribers and
// a three-member $share group; a pod SIGKILLed and restarted, Redis SIGKILLed and restarted from
// its AOF, Redis paused (SIGSTOP/SIGCONT), another pod killed. Pods run dist/: build first.

test('chaos: pods and Redis fail under QoS 1/2 traffic, no acknowledged message is lost', { timeout: 110_000 }, async (t) => {
  const result = await runChaos({
    trafficMs: 30_000,
    faultEveryMs: 6000,
    podDownMs: 1500,
    redisDownMs: 1500,
    redisPauseMs: 3000,
    drainMs: 25_000,
    rate: 10,
    window: 50,
    pods: 3,
    claimIdleMs: 3000,
    log: (line) => t.diagnostic(line)
  })
  const report = formatReport(result, 'test/chaos/chaos.test.ts')
  for (const line of report.split('\n')) t.diagnostic(line)
  const totals = result.totals

  assert.deepEqual(result.faults.map((f) => f.kind), ['kill-pod', 'restart-redis', 'pause-redis', 'kill-pod'])
  for (const p of totals.publishers) assert.ok(p.acknowledged >= 100, `${p.name}: traffic flowed (${p.acknowledged} acknowledged)\n${report}`)
  // Every acknowledged message reached every subscriber and the group (QoS 1 and 2 alike).
  assert.equal(totals.lost, 0, `lost messages\n${report}`)
  // QoS 2 exactly once at each subscriber [MQTT-4.3.3]; QoS 1 and the group: at least once.
  for (const r of totals.receivers.filter((r) => r.members === 1)) assert.equal(r.duplicatesQos2, 0, `${r.name}: QoS 2 duplicates\n${report}`)
  // Persistent subscriber sessions survive pod kills and the Redis restart (AOF).
  assert.equal(result.events.sessionsLost, 0, `subscriber sessions lost\n${report}`)
  for (const f of result.faults) assert.notEqual(f.recoveredMs, null, `${f.kind} ${f.target}: traffic did not recover\n${report}`)
  assert.equal(result.podsAlive, 3)
})
