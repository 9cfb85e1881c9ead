import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { haproxyConfig, planCluster, type ClusterPlan, type PodPlan } from '../../src/cli/local-cluster-plan.js'

/**
 * The chaos run's processes on loopback, laid out like `starling local-cluster` (the same port
 * plan and HAProxy configuration: round robin, PROXY protocol v2, `/readyz` checks): redis-server
 * with AOF on, N `starling serve` pods from dist/, HAProxy in front. A killed pod or Redis comes
 * back on the same ports, so HAProxy's backends stay valid. Every child is tracked and SIGKILLed
 * by `killAll` (safe in 'exit' handlers).
 */

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = join(REPO, 'bin', 'starling.js')
const DIST = join(REPO, 'dist', 'cli', 'index.js')

const children = new Set<ChildProcess>()

export function killAll (): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
}

function spawnTracked (command: string, args: string[], env: NodeJS.ProcessEnv, log: string[]): ChildProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  // Only the tail is kept: enough to explain a failed start without growing over a long run.
  const keep = (d: Buffer): void => {
    log.push(d.toString())
    if (log.length > 200) log.splice(0, log.length - 200)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  child.once('exit', () => children.delete(child))
  return child
}

function alive (child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null
}

function exited (child: ChildProcess): Promise<void> {
  if (!alive(child)) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function tcpOpen (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, 1000)
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(true) })
    socket.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

async function httpOk (port: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1000) })
    return res.status === 200
  } catch {
    return false
  }
}

async function until (what: string, child: ChildProcess, check: () => Promise<boolean>, timeoutMs: number, log: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!alive(child)) throw new Error(`${what} exited during start: ${log.join('').slice(-2000)}`)
    if (await check()) return
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error(`${what} did not come up within ${timeoutMs} ms: ${log.join('').slice(-2000)}`)
}

export interface ChaosRedis {
  readonly port: number
  readonly url: string
  /** SIGKILL (a crash): with AOF on, every write Redis answered survives the restart. */
  kill (): Promise<void>
  start (): Promise<void>
  pause (): void
  resume (): void
}

async function startRedis (port: number, dir: string): Promise<ChaosRedis> {
  let child: ChildProcess | undefined
  const log: string[] = []
  const launch = async (): Promise<void> => {
    log.length = 0
    child = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'everysec', '--daemonize', 'no', '--dir', dir], process.env, log)
    await until('redis-server', child, () => tcpOpen(port), 10_000, log)
  }
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill () {
      if (!alive(child)) return
      child.kill('SIGKILL')
      await exited(child)
    },
    async start () {
      if (alive(child)) return
      await launch()
    },
    pause () { child?.kill('SIGSTOP') },
    resume () { child?.kill('SIGCONT') }
  }
}

export interface ChaosPod {
  readonly slot: number
  /** The node id of the current process (a restarted pod gets a new one, like a Deployment's replacement). */
  id (): string
  alive (): boolean
  /** SIGKILL, waits for the exit. */
  kill (): Promise<void>
  /** Starts a new process on the same ports; resolves once `/readyz` answers 200. */
  start (): Promise<void>
  log (): string
}

export interface ChaosClusterOptions {
  readonly pods: number
  /** Extra `STARLING_*` settings for every pod. */
  readonly env?: Readonly<Record<string, string>>
}

export interface ChaosCluster {
  readonly plan: ClusterPlan
  /** HAProxy's MQTT frontend, `mqtt://127.0.0.1:<port>`. */
  readonly url: string
  readonly redis: ChaosRedis
  readonly pods: readonly ChaosPod[]
  stop (): Promise<void>
}

function podProcess (pod: PodPlan, slot: number, redisUrl: string, dataDir: string, env: Readonly<Record<string, string>>): ChaosPod {
  let child: ChildProcess | undefined
  let generation = 0
  let id = pod.id
  const log: string[] = []
  return {
    slot,
    id: () => id,
    alive: () => alive(child),
    async kill () {
      if (!alive(child)) return
      child.kill('SIGKILL')
      await exited(child)
    },
    async start () {
      if (alive(child)) return
      id = generation === 0 ? pod.id : `${pod.id}-r${generation}`
      generation++
      log.length = 0
      const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STARLING_')))
      child = spawnTracked(process.execPath, [BIN, 'serve', '--node-id', id, '--redis-url', redisUrl,
        '--mqtt-port', String(pod.mqttPort), '--http-port', String(pod.httpPort)], {
        ...base,
        STARLING_MQTT_HOST: '127.0.0.1',
        STARLING_HTTP_HOST: '127.0.0.1',
        STARLING_WS_ENABLED: 'false',
        STARLING_MQTT_PROXY_PROTOCOL: 'true',
        STARLING_LOG_LEVEL: 'warn',
        STARLING_DATA_DIR: join(dataDir, `pod-${slot}`),
        STARLING_SECRET_KEY: 'chaos run secret key, at least thirty-two characters long',
        // The run is about delivery, not auth: the default broker stays anonymous in cluster mode
        // (where `auto` means TOKEN once tenancy serves MQTT); loopback only.
        STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'NONE',
        ...env
      }, log)
      await until(id, child, () => httpOk(pod.httpPort, '/readyz'), 30_000, log)
    },
    log: () => log.join('')
  }
}

/** Redis (AOF), `pods` pods and HAProxy on free loopback ports; `stop()` (or `killAll`) ends them. */
export async function startChaosCluster (options: ChaosClusterOptions): Promise<ChaosCluster> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (pods run compiled Starling)`)
  const plan = await planCluster(options.pods, 0)
  const dir = mkdtempSync(join(tmpdir(), 'starling-chaos-'))
  try {
    const redis = await startRedis(plan.redisPort, dir)
    const pods = plan.pods.map((pod, i) => podProcess(pod, i, redis.url, dir, options.env ?? {}))
    await Promise.all(pods.map((pod) => pod.start()))
    const cfg = join(dir, 'haproxy.cfg')
    writeFileSync(cfg, haproxyConfig(plan))
    const haproxyLog: string[] = []
    const haproxy = spawnTracked('haproxy', ['-db', '-f', cfg], process.env, haproxyLog)
    await until('haproxy', haproxy, () => tcpOpen(plan.mqttPort), 10_000, haproxyLog)
    return {
      plan,
      url: `mqtt://127.0.0.1:${plan.mqttPort}`,
      redis,
      pods,
      async stop () {
        redis.resume()
        killAll()
        await sleep(100)
        rmSync(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    killAll()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
