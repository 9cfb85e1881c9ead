import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { killAllChildren } from './brokers.js'
import { killClusterChildren, startPod, startRedis, type Proc } from './cluster-procs.js'
import { runCross, type CrossTuning } from './cross-scenario.js'
import { runMain } from './run-main.js'

/**
 * CPU profiles of the cross-pod path (issue 16 target 1): pods A and B with one Redis, and one
 * embedded pod, each run with `node --cpu-prof` into DIR; the same one-to-one clean QoS 1 traffic
 * goes A→B and then through the embedded pod, so the profiles show what the cross-pod path adds.
 *   node --import tsx loadtest/bench/bus-profile.ts DIR [messages] [dist]
 */
async function main (): Promise<void> {
  const dir = resolve(process.argv[2] ?? 'bus-profiles')
  const messages = Number(process.argv[3] ?? 50_000)
  const dist = resolve(process.argv[4] ?? 'dist')
  mkdirSync(dir, { recursive: true })
  const tune: CrossTuning = { protocolVersion: 5, payloadBytes: 64, window: 100, aheadLimit: 1000, timeoutMs: 120_000, settleMs: 8000 }
  const procs: Proc[] = []
  const prof = (id: string): string[] => ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${id}.cpuprofile`]
  try {
    const redis = await startRedis('redis-prof'); procs.push(redis)
    const url = `redis://127.0.0.1:${redis.port}`
    const a = await startPod({ id: 'prof-a', dist, redisUrl: url, receiveMaximum: 100, maxQueued: 100_000, nodeArgs: prof('prof-a') }); procs.push(a)
    const b = await startPod({ id: 'prof-b', dist, redisUrl: url, receiveMaximum: 100, maxQueued: 100_000, nodeArgs: prof('prof-b') }); procs.push(b)
    const e = await startPod({ id: 'prof-embedded', dist, redisUrl: '', receiveMaximum: 100, maxQueued: 100_000, nodeArgs: prof('prof-embedded') }); procs.push(e)
    const shape = { qos: 1 as const, publishers: 1, subscribers: 1, perPublisher: messages, persistent: false }
    const cross = await runCross({ label: 'prof-cross', pubPorts: [a.port], subPorts: [b.port], pids: [a.pid, b.pid, redis.pid], redisPort: redis.port, ...shape }, tune)
    process.stdout.write(`cross-pod: ${Math.round(cross.msgPerSec)} msg/s, ${(cross.brokerCpu * cross.seconds * 1e6 / cross.unique).toFixed(1)} CPU µs/msg, lost ${cross.lost}\n`)
    const one = await runCross({ label: 'prof-one', pubPorts: [e.port], subPorts: [e.port], pids: [e.pid], ...shape }, tune)
    process.stdout.write(`embedded: ${Math.round(one.msgPerSec)} msg/s, ${(one.brokerCpu * one.seconds * 1e6 / one.unique).toFixed(1)} CPU µs/msg, lost ${one.lost}\n`)
  } finally {
    // SIGTERM: the pods drain and exit, and node writes each profile on exit
    for (const p of procs.reverse()) await p.stop().catch(() => {})
  }
}

runMain('bus-profile', main, () => { killClusterChildren(); killAllChildren() })
