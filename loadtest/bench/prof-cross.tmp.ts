import { REPO, startPod, startRedis } from './cluster-procs.js'
import { runCross } from './cross-scenario.js'
import { resolve } from 'node:path'
import { cpuUsPerMessage } from './cluster-report.js'
const dist = resolve(REPO, process.argv[2] ?? 'dist')
const redis = await startRedis('r')
const pods = await Promise.all(['pa', 'pb'].map(async (id) => await startPod({ id, dist, redisUrl: `redis://127.0.0.1:${redis.port}`, receiveMaximum: 100, maxQueued: 100000, nodeArgs: ['--cpu-prof', '--cpu-prof-dir=/tmp/lb-prof'] })))
const tune = { protocolVersion: 5 as const, payloadBytes: 64, window: 100, aheadLimit: 1000, timeoutMs: 60000, settleMs: 8000 }
for (let i = 0; i < 2; i++) {
  const r = await runCross({ label: 'prof', qos: 1, pubPorts: [pods[0]!.port], subPorts: [pods[1]!.port], pids: [pods[0]!.pid, pods[1]!.pid, redis.pid], publishers: 1, subscribers: 1, perPublisher: 50000, persistent: false, redisPort: redis.port }, tune)
  console.log(r.msgPerSec.toFixed(0), 'msg/s', cpuUsPerMessage(r).toFixed(1), 'µs/msg', r.redis?.total, 'cmds', r.lost, 'lost')
}
for (const p of pods) await p.stop()
await redis.stop()
