import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect as netConnect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { withTimeout } from './clients.js'

/**
 * Processes of the cluster benchmark, each a child on loopback: redis-server, `starling serve`
 * pods (embedded or with `--redis-url`) and HAProxy (TCP round robin). Every child is tracked so
 * the harness stops all of them on errors, Ctrl-C and exit.
 */
export interface Proc {
  readonly name: string
  readonly pid: number
  readonly port: number
  alive: () => boolean
  stop: () => Promise<void>
}

const HERE = dirname(fileURLToPath(import.meta.url))
export const REPO = resolve(HERE, '..', '..')
const children = new Set<ChildProcess>()

/** SIGKILLs every child still running (synchronous: safe in 'exit' handlers). */
export function killClusterChildren (): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children.clear()
}

function track (name: string, child: ChildProcess, port: number, cleanup?: () => void): Proc {
  children.add(child)
  child.once('exit', () => {
    children.delete(child)
    cleanup?.()
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`${name} did not start`)
  const alive = (): boolean => child.exitCode === null && child.signalCode === null
  const stop = async (): Promise<void> => {
    if (!alive()) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }
  return { name, pid, port, alive, stop }
}

export async function freePort (): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function canConnect (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function waitListening (proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!proc.alive()) throw new Error(`${proc.name} exited during start`)
    if (await canConnect(proc.port)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await proc.stop()
  throw new Error(`${proc.name}: nothing listening on ${proc.port} after ${timeoutMs} ms`)
}

/** redis-server without persistence on a free loopback port. */
export async function startRedis (name: string): Promise<Proc> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-redis-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] })
  const proc = track(name, child, port, () => rmSync(dir, { recursive: true, force: true }))
  await waitListening(proc, 5000)
  return proc
}

export interface PodOptions {
  readonly id: string
  /** Compiled Starling (a `dist/` layout: `<dist>/cli/index.js`). */
  readonly dist: string
  /** '' = embedded mode (in-memory emitter and persistence). */
  readonly redisUrl: string
  readonly receiveMaximum: number
  /** limits.maxQueuedMessages (Starling's default is 1000). */
  readonly maxQueued: number
  /** Extra environment (STARLING_* settings) and node flags (e.g. --max-semi-space-size=1). */
  readonly env?: Readonly<Record<string, string>>
  readonly nodeArgs?: readonly string[]
}

/** One `starling serve` on port 0; resolves with its MQTT port once it logs `starling ready`. */
export async function startPod (opts: PodOptions): Promise<Proc> {
  const entry = join(opts.dist, 'cli', 'index.js')
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npm run build, or --dist DIR)`)
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STARLING_')))
  Object.assign(env, {
    STARLING_MQTT_HOST: '127.0.0.1',
    STARLING_HTTP_HOST: '127.0.0.1',
    STARLING_WS_ENABLED: 'false',
    STARLING_LOG_LEVEL: 'info',
    STARLING_DRAIN_SECONDS: '0',
    STARLING_LIMITS_RECEIVE_MAXIMUM: String(opts.receiveMaximum),
    STARLING_LIMITS_MAX_QUEUED_MESSAGES: String(opts.maxQueued),
    // Cluster pods need the secret their signing keys are sealed with (one for all pods of a run);
    // the benchmark clients connect anonymously unless a scenario sets the auth type.
    STARLING_SECRET_KEY: 'benchmark pods secret key, at least 32 characters',
    STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'NONE',
    ...opts.env
  })
  // Each pod its own data directory (an embedded pod keeps its tenancy there): a ./data left by an
  // earlier run with another secret would stop the pod at start.
  const ownDataDir = env.STARLING_DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'starling-bench-pod-')) : undefined
  if (ownDataDir !== undefined) env.STARLING_DATA_DIR = ownDataDir
  const redis = opts.redisUrl !== '' ? ['--redis-url', opts.redisUrl] : []
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry, 'serve', '--node-id', opts.id, ...redis, '--mqtt-port', '0', '--http-port', '0'], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  if (ownDataDir !== undefined) child.once('exit', () => rmSync(ownDataDir, { recursive: true, force: true }))
  const stdout = child.stdout
  if (stdout === null) throw new Error('pod has no stdout')
  const lines = createInterface({ input: stdout })
  // BENCH_POD_LOG_DIR: every pod's log lines also go to <dir>/<id>.log (what a pod did during a stall)
  const logDir = process.env.BENCH_POD_LOG_DIR
  if (logDir !== undefined && logDir !== '') {
    const log = createWriteStream(join(logDir, `${opts.id}.log`), { flags: 'a' })
    lines.on('line', (line) => log.write(line + '\n'))
    child.once('exit', () => log.end())
  }
  const port = new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      if (!line.includes('starling ready')) return
      const match = /"mqtt@127\.0\.0\.1:(\d+)"/.exec(line)
      if (match?.[1] !== undefined) resolve(Number(match[1]))
    })
    child.once('exit', (code) => reject(new Error(`pod ${opts.id} exited with ${String(code)} before ready`)))
  })
  try {
    const mqttPort = await withTimeout(port, 20_000, `pod ${opts.id} to be ready`)
    return track(opts.id, child, mqttPort)
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
}

/**
 * HAProxy, TCP round robin over `backends` on one frontend port. No PROXY header: the same pods
 * also take direct connections in the same run (the header costs once per connection only).
 */
export async function startHaproxy (backends: readonly number[], maxconn = 8000): Promise<Proc> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-haproxy-'))
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global', `  maxconn ${maxconn}`,
    'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 10m', '  timeout server 10m',
    'frontend mqtt', `  bind 127.0.0.1:${port}`, '  default_backend pods',
    'backend pods', '  balance roundrobin',
    ...backends.map((b, i) => `  server pod${i} 127.0.0.1:${b}`),
    ''
  ].join('\n'))
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] })
  const proc = track('haproxy', child, port, () => rmSync(dir, { recursive: true, force: true }))
  await waitListening(proc, 5000)
  return proc
}
