import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { parseNodes } from '../../src/cli/redis-topology.js'
import { freePort } from './haproxy.js'

/**
 * A real Redis Cluster on loopback: `masters` redis-server processes with `--cluster-enabled yes`
 * (and `replicas` replicas each), joined with `redis-cli --cluster create`, all stopped after the
 * test. Slots are split evenly over the masters (0–5460, 5461–10922, 10923–16383 for three).
 */

export interface ClusterNodeProcess {
  readonly port: number
  /** `127.0.0.1:<port>` */
  readonly address: string
  /** SIGKILL (a crash) by default; resolves when the process has exited. */
  kill (signal?: NodeJS.Signals): Promise<void>
  running (): boolean
}

export interface ClusterNodeInfo {
  readonly id: string
  readonly port: number
  readonly role: 'master' | 'replica'
  readonly masterId: string | undefined
  readonly slots: ReadonlyArray<readonly [number, number]>
  readonly failed: boolean
}

export interface TestRedisCluster {
  readonly nodes: readonly ClusterNodeProcess[]
  /** Every node's `127.0.0.1:<port>` (seed nodes for `redis.cluster.nodes`). */
  readonly seeds: readonly string[]
  /** One command on one node (`-c`: follows MOVED/ASK); stdout lines. */
  cli (args: readonly string[], port?: number): Promise<string[]>
  /** The same command on every running master; their lines together. */
  cliMasters (args: readonly string[]): Promise<string[]>
  /** CLUSTER NODES as seen from a running node. */
  topology (): Promise<ClusterNodeInfo[]>
  /** `redis-cli --cluster reshard`: moves `slots` slots from one master to another (by port). */
  reshard (fromPort: number, toPort: number, slots: number): Promise<string>
  /** `redis-cli --cluster rebalance` (moves slots so every master has an even share). */
  rebalance (): Promise<string>
  /** Until every running node reports cluster_state:ok and agrees on who owns every slot. */
  waitHealthy (timeoutMs?: number): Promise<void>
}

export interface RedisClusterOptions {
  readonly masters?: number
  /** Replicas per master (a failover needs one). */
  readonly replicas?: number
  /** `cluster-node-timeout`: how long a master may be unreachable before its replica takes over. */
  readonly nodeTimeoutMs?: number
  /** Run before the nodes are killed after the test (e.g. close in-process Starling nodes first). */
  readonly beforeStop?: () => Promise<void>
}

/** True when a Redis on 127.0.0.1:`port` answers PING with PONG within half a second. */
export function ping (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let answer = ''
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, 500)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.on('data', (d: Buffer) => {
      answer += d.toString()
      if (answer.includes('\r\n')) { clearTimeout(timer); socket.destroy(); resolve(answer.startsWith('+PONG')) }
    })
    socket.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

function run (command: string, args: readonly string[], timeoutMs = 60000): Promise<{ code: number | null, out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, out }) })
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** `CLUSTER NODES` (redis-cli's lines), parsed as `starling cluster status` does, by port. */
export function parseClusterNodes (text: readonly string[]): ClusterNodeInfo[] {
  return parseNodes(text.join('\n')).map(({ address, ...node }) => ({ ...node, port: Number(address.split(':')[1]) }))
}

export async function startRedisCluster (t: TestContext, options: RedisClusterOptions = {}): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3
  const replicas = options.replicas ?? 0
  const nodeTimeout = options.nodeTimeoutMs ?? 2000
  const dir = mkdtempSync(join(tmpdir(), 'starling-redis-cluster-'))
  const children = new Map<number, ChildProcess>()
  const logs = new Map<number, string>()

  const launch = async (port: number): Promise<boolean> => {
    const child = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout', String(nodeTimeout), '--cluster-announce-ip', '127.0.0.1',
      // a replica takes over whatever its replication offset (the test measures what that loses)
      '--cluster-replica-validity-factor', '0'
    ], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.set(port, child)
    let log = ''
    child.stdout?.on('data', (d: Buffer) => { log += d.toString(); logs.set(port, log.slice(-4000)) })
    child.stderr?.on('data', (d: Buffer) => { log += d.toString(); logs.set(port, log.slice(-4000)) })
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && child.exitCode === null) {
      if (await ping(port)) return true
      await sleep(25)
    }
    child.kill('SIGKILL')
    return false
  }

  const stopAll = async (): Promise<void> => {
    await options.beforeStop?.().catch(() => {})
    await Promise.all([...children.values()].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
    }))
    rmSync(dir, { recursive: true, force: true })
  }
  t.after(stopAll)

  const ports: number[] = []
  for (let i = 0; i < masters * (1 + replicas); i++) {
    let started = false
    for (let attempt = 0; attempt < 3 && !started; attempt++) {
      const port = await freePort()
      if (ports.includes(port)) continue
      started = await launch(port)
      if (started) ports.push(port)
    }
    if (!started) throw new Error(`redis-server (cluster node ${i}) did not start: ${[...logs.values()].join('\n')}`)
  }
  const created = await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'])
  if (created.code !== 0 || !created.out.includes('All 16384 slots covered')) throw new Error(`redis-cli --cluster create failed: ${created.out}`)

  const running = (port: number): boolean => {
    const child = children.get(port)
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }
  const cli = async (args: readonly string[], port?: number): Promise<string[]> => {
    const target = port ?? ports.find(running)
    if (target === undefined) throw new Error('no cluster node is running')
    const { out } = await run('redis-cli', ['-c', '-h', '127.0.0.1', '-p', String(target), ...args])
    return out.split('\n').filter((line) => line !== '')
  }
  const topology = async (): Promise<ClusterNodeInfo[]> => parseClusterNodes(await cli(['CLUSTER', 'NODES']))
  const liveMasters = async (): Promise<number[]> =>
    (await topology()).filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0 && running(n.port)).map((n) => n.port)

  const waitHealthy = async (timeoutMs = 20000): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      const live = ports.filter(running)
      const views = await Promise.all(live.map(async (p) => {
        const info = await cli(['CLUSTER', 'INFO'], p)
        const owners = parseClusterNodes(await cli(['CLUSTER', 'NODES'], p))
          .filter((n) => n.role === 'master' && n.slots.length > 0 && !n.failed)
          .map((n) => `${n.port}:${n.slots.map((s) => s.join('-')).join(',')}`).sort().join(' ')
        return { ok: info.some((l) => l.startsWith('cluster_state:ok')), owners }
      }))
      last = JSON.stringify(views)
      // every node ok, and every node that lists the slot owners (a node still joining may list
      // none for a moment) agrees on them
      const owners = new Set(views.map((v) => v.owners).filter((o) => o !== ''))
      if (views.length > 0 && views.every((v) => v.ok) && owners.size === 1) return
      await sleep(100)
    }
    throw new Error(`the Redis Cluster did not settle: ${last}`)
  }
  await waitHealthy(60000)

  return {
    nodes: ports.map((port) => ({
      port,
      address: `127.0.0.1:${port}`,
      running: () => running(port),
      async kill (signal: NodeJS.Signals = 'SIGKILL') {
        const child = children.get(port)
        if (child === undefined || !running(port)) return
        child.kill(signal)
        await new Promise((resolve) => child.once('exit', resolve))
      }
    })),
    seeds: ports.map((p) => `127.0.0.1:${p}`),
    cli,
    async cliMasters (args) {
      const out: string[] = []
      for (const port of await liveMasters()) out.push(...await cli(args, port))
      return out
    },
    topology,
    async reshard (fromPort, toPort, slots) {
      const nodes = await topology()
      const from = nodes.find((n) => n.port === fromPort)
      const to = nodes.find((n) => n.port === toPort)
      if (from === undefined || to === undefined) throw new Error(`no node on ${fromPort} or ${toPort}`)
      const { code, out } = await run('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${toPort}`, '--cluster-from', from.id, '--cluster-to', to.id,
        '--cluster-slots', String(slots), '--cluster-yes', '--cluster-pipeline', '100'], 120000)
      if (code !== 0) throw new Error(`redis-cli --cluster reshard failed: ${out}`)
      return out
    },
    async rebalance () {
      const { code, out } = await run('redis-cli', ['--cluster', 'rebalance', ports.filter(running).map((p) => `127.0.0.1:${p}`)[0]!, '--cluster-pipeline', '100'], 120000)
      if (code !== 0) throw new Error(`redis-cli --cluster rebalance failed: ${out}`)
      return out
    },
    waitHealthy
  }
}
