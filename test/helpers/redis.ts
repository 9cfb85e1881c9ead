import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { freePort } from './haproxy.js'
import { ping, startRedisCluster, type TestRedisCluster } from './redis-cluster.js'

/**
 * `STARLING_TEST_REDIS=cluster` (`npm run test:redis-cluster`): every `startRedis` that asks for
 * no special persistence starts a 3-master Redis Cluster instead of one server, and the pods and
 * test nodes given its `url` connect to it as a Redis Cluster (`redis.cluster.nodes`), so the
 * cluster tier runs unchanged against sharded keys and sharded pub/sub.
 */
export function testRedisIsCluster (): boolean {
  return process.env.STARLING_TEST_REDIS === 'cluster'
}

const clusterSeeds = new Map<string, readonly string[]>()
const clusterUsers = new Map<string, Array<() => Promise<void>>>()

/**
 * Closes `close` (an in-process node using the cluster at `url`) before that cluster's nodes are
 * killed after the test: after hooks run in registration order, so Redis would go first, and a
 * Cluster client that loses every node reports it as an error.
 */
export function closeBeforeClusterStops (url: string, close: () => Promise<void>): void {
  clusterUsers.get(url)?.push(close)
}

/** The seed nodes of a Redis Cluster started for `url` (STARLING_TEST_REDIS=cluster), else undefined. */
export function clusterSeedsOf (url: string): readonly string[] | undefined {
  return clusterSeeds.get(url)
}

/** Commands whose answer is per node: asked of every master, lines together (counts summed). */
async function clusterCli (cluster: TestRedisCluster, args: readonly string[]): Promise<string[]> {
  const [command = '', sub = ''] = args.map((a) => a.toUpperCase())
  const sum = (lines: string[]): string[] => [String(lines.reduce((n, line) => n + Number(line), 0))]
  if (command === 'KEYS' || (command === 'CONFIG' && sub === 'RESETSTAT') || command === 'INFO' || command === 'ACL') return await cluster.cliMasters(args)
  if (command === 'DBSIZE') return sum(await cluster.cliMasters(args))
  if (command === 'PUBSUB' && sub === 'NUMPAT') return sum(await cluster.cliMasters(args))
  // the bus's channels are sharded channels on a Redis Cluster
  if (command === 'PUBSUB' && sub === 'CHANNELS') return await cluster.cliMasters(['PUBSUB', 'SHARDCHANNELS', ...args.slice(2)])
  return await cluster.cli(args)
}

async function startClusterAsTestRedis (t: TestContext): Promise<TestRedis> {
  const users: Array<() => Promise<void>> = []
  const cluster = await startRedisCluster(t, { masters: 3, beforeStop: async () => { await Promise.all(users.map(async (close) => await close())) } })
  const port = cluster.nodes[0]!.port
  const url = `redis://127.0.0.1:${port}`
  clusterSeeds.set(url, cluster.seeds)
  clusterUsers.set(url, users)
  const unsupported = (what: string) => async (): Promise<void> => { throw new Error(`${what} is not supported with STARLING_TEST_REDIS=cluster`) }
  return {
    port,
    url,
    stop: unsupported('stop()'),
    start: unsupported('start()'),
    signal () { throw new Error('signal() is not supported with STARLING_TEST_REDIS=cluster') },
    cli: async (args) => await clusterCli(cluster, args)
  }
}

/** A real `redis-server` on a loopback port, without persistence to disk. */
export interface TestRedis {
  readonly port: number
  readonly url: string
  /** Stops it (SIGKILL by default, like a crash); `start()` brings it back on the same port, empty. */
  stop (signal?: NodeJS.Signals): Promise<void>
  start (): Promise<void>
  /** Sends `signal` and returns: SIGSTOP makes Redis hang with its connections open, SIGCONT resumes it. */
  signal (signal: NodeJS.Signals): void
  /** One command through redis-cli, e.g. `['KEYS', '*']`; stdout lines. */
  cli (args: readonly string[]): Promise<string[]>
}

function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Calls Redis has served of the commands `stat` matches (INFO commandstats lines; every master's on a Redis Cluster). */
export async function commandCalls (redis: TestRedis, stat: RegExp): Promise<number> {
  let calls = 0
  for (const line of await redis.cli(['INFO', 'commandstats'])) {
    const match = stat.exec(line)
    if (match !== null) calls += Number(match[1])
  }
  return calls
}

export interface RedisOptions {
  /**
   * A one-node Redis Cluster (`--cluster-enabled yes`, every slot assigned to it): enough to run
   * the Cluster code paths (ioredis Cluster client, no multi-key commands, SCAN per master).
   */
  readonly cluster?: boolean
  /**
   * Persistence like a production Redis (`--appendonly yes`, fsync every second): a restart
   * after SIGKILL keeps every write Redis acknowledged (the AOF is written before the reply).
   */
  readonly appendOnly?: boolean
}

function cliRun (port: number, args: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const cli = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    cli.stdout.on('data', (d: Buffer) => { out += d.toString() })
    cli.once('error', reject)
    cli.once('exit', () => resolve(out.split('\n').filter((line) => line !== '')))
  })
}

/** Starts redis-server on a free 127.0.0.1 port (`--save '' --appendonly no`), stopped after the test. */
export async function startRedis (t: TestContext, options: RedisOptions = {}): Promise<TestRedis> {
  if (testRedisIsCluster() && options.appendOnly !== true) return await startClusterAsTestRedis(t)
  let child: ChildProcess | undefined
  let port = 0
  let log = ''
  const dir = mkdtempSync(join(tmpdir(), 'starling-redis-'))

  const clusterArgs = (): string[] => options.cluster === true
    ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-announce-ip', '127.0.0.1']
    : []

  const clusterReady = async (): Promise<boolean> => {
    if (options.cluster !== true) return true
    await cliRun(port, ['CLUSTER', 'ADDSLOTSRANGE', '0', '16383'])
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if ((await cliRun(port, ['CLUSTER', 'INFO'])).some((line) => line.startsWith('cluster_state:ok'))) return true
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return false
  }

  const launch = async (): Promise<boolean> => {
    log = ''
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', options.appendOnly === true ? 'yes' : 'no', '--appendfsync', 'everysec', '--daemonize', 'no', '--dir', dir, ...clusterArgs()], {
      stdio: ['ignore', 'pipe', 'pipe']
    })
    child.stdout?.on('data', (d: Buffer) => { log += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { log += d.toString() })
    const deadline = Date.now() + 5000
    while (Date.now() < deadline && child.exitCode === null) {
      if (await ping(port)) return await clusterReady()
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    child.kill('SIGKILL')
    await exited(child)
    return false
  }

  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child === undefined) return
    const running = child
    child = undefined
    running.kill(signal)
    await exited(running)
  }

  // A port free a moment ago can be taken meanwhile: a few attempts, each on a new port.
  let started = false
  for (let attempt = 0; attempt < 3 && !started; attempt++) {
    port = await freePort()
    started = await launch()
  }
  if (!started) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`redis-server did not start: ${log}`)
  }
  t.after(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    async start () {
      if (child !== undefined) return
      if (!await launch()) throw new Error(`redis-server did not restart on ${port}: ${log}`)
    },
    signal (signal) {
      child?.kill(signal)
    },
    cli: (args) => cliRun(port, args)
  }
}
