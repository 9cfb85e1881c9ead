import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './cluster-procs.js'

/**
 * A Redis Cluster of `shards` masters (no replicas) for the benchmarks, slots split evenly as
 * `redis-cli --cluster create` does, on free loopback ports. `stopRedisClusters` kills every one
 * started (call it on exit and on Ctrl-C).
 */
const procs: ChildProcess[] = []
const dirs: string[] = []

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export function runTool (command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    child.once('error', reject)
    child.once('exit', () => resolve(out))
  })
}

/** Starts the masters, assigns the slots, waits until every node reports the cluster ok; resolves with their ports. */
export async function startRedisCluster (shards: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-shards-'))
  dirs.push(dir)
  const ports: number[] = []
  for (let i = 0; i < shards; i++) {
    const port = await freePort()
    ports.push(port)
    procs.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-announce-ip', '127.0.0.1'], { stdio: 'ignore' }))
  }
  for (const port of ports) {
    for (let i = 0; i < 100 && !(await runTool('redis-cli', ['-p', String(port), 'PING'])).includes('PONG'); i++) await sleep(50)
  }
  for (let i = 0; i < shards; i++) {
    const low = Math.round(i * 16384 / shards)
    const high = Math.round((i + 1) * 16384 / shards) - 1
    await runTool('redis-cli', ['-p', String(ports[i]), 'CLUSTER', 'ADDSLOTSRANGE', String(low), String(high)])
    if (i > 0) await runTool('redis-cli', ['-p', String(ports[i]), 'CLUSTER', 'MEET', '127.0.0.1', String(ports[0])])
  }
  for (let i = 0; i < 200; i++) {
    const states = await Promise.all(ports.map(async (p) => await runTool('redis-cli', ['-p', String(p), 'CLUSTER', 'INFO'])))
    if (states.every((s) => s.includes('cluster_state:ok') && s.includes(`cluster_known_nodes:${shards}`))) return ports
    await sleep(100)
  }
  throw new Error(`cluster of ${shards} did not form`)
}

export function stopRedisClusters (): void {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
}
