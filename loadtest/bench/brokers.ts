import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createServer, connect as netConnect } from 'node:net'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { withTimeout } from './clients.js'

/**
 * Broker launchers: each starts one broker as a child process on a free 127.0.0.1 port and
 * returns its port, pid and a stop(). Every child is tracked so the harness can stop all of them
 * on Ctrl-C, errors and exit.
 */
export type BrokerName = 'starling' | 'starling-acl' | 'starling-hook' | 'aedes' | 'aedes-npm' | 'mosquitto'
export const BROKER_NAMES: readonly BrokerName[] = ['starling', 'aedes', 'mosquitto']
/**
 * Also accepted by `--brokers`, not run by default: Starling with BENCH_ACL_RULES as its ACL;
 * Starling whose default broker has a pass-through on-publish hook (hook-server.ts); aedes as
 * published on npm, without this repo's patches (see AEDES_NPM_DIR).
 */
export const EXTRA_BROKER_NAMES: readonly BrokerName[] = ['starling-acl', 'starling-hook', 'aedes-npm']

/**
 * A few rules every benchmark message passes through (none refuses a `bench/...` topic): what an
 * ACL costs on publish, subscribe and every delivery.
 */
export const BENCH_ACL_RULES = [
  { action: 'subscribe', topic: 'secret/#', allow: false },
  { action: 'publish', topic: 'readonly/#', allow: false },
  { action: 'all', topic: '$SYS/#', allow: false },
  { action: 'all', topic: '+/private/#', allow: false },
  { action: 'all', topic: 'bench/#', allow: true }
]

export interface RunningBroker {
  readonly name: BrokerName
  readonly port: number
  readonly pid: number
  readonly note: string
  /** HTTP port (Starling only; 0 for the others). */
  readonly httpPort?: number
  /** False once the process has exited (crashed). */
  alive: () => boolean
  stop: () => Promise<void>
}

export interface LaunchOptions {
  /** Receive Maximum Starling advertises (its default is 100). */
  readonly starlingReceiveMaximum: number
  /** More `STARLING_*` environment for a Starling pod (e.g. STARLING_ADMIN_TOKEN). */
  readonly starlingEnv?: Readonly<Record<string, string>>
}

const HERE = dirname(fileURLToPath(import.meta.url))
const REPO = resolve(HERE, '..', '..')
const children = new Set<ChildProcess>()

/** SIGKILLs every child still running (synchronous: safe in 'exit' handlers). */
export function killAllChildren (): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
}

export async function launchBroker (name: BrokerName, opts: LaunchOptions): Promise<RunningBroker> {
  switch (name) {
    case 'starling': return await launchStarling(opts)
    case 'starling-acl': return await launchStarling(opts, { acl: BENCH_ACL_RULES })
    case 'starling-hook': return await launchStarlingWithHook(opts)
    case 'aedes': return await launchAedes()
    case 'aedes-npm': return await launchAedesFromNpm()
    case 'mosquitto': return await launchMosquitto()
  }
}

interface StarlingVariant {
  readonly acl?: readonly object[]
  /** Extra STARLING_* environment, a name and a note for the hook variant. */
  readonly hook?: { readonly env: Record<string, string>, readonly note: string, readonly stop: () => Promise<void> }
}

async function launchStarling (opts: LaunchOptions, variant: StarlingVariant = {}): Promise<RunningBroker> {
  const acl = variant.acl
  const entry = join(REPO, 'bin', 'starling.js')
  if (!existsSync(join(REPO, 'dist', 'cli', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first')
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STARLING_')))
  Object.assign(env, {
    STARLING_MQTT_HOST: '127.0.0.1',
    STARLING_MQTT_PORT: '0',
    STARLING_HTTP_HOST: '127.0.0.1',
    STARLING_HTTP_PORT: '0',
    STARLING_WS_ENABLED: 'false',
    STARLING_LOG_LEVEL: 'info',
    STARLING_DRAIN_SECONDS: '0',
    STARLING_LIMITS_RECEIVE_MAXIMUM: String(opts.starlingReceiveMaximum),
    ...(acl !== undefined ? { STARLING_ACL: JSON.stringify(acl) } : {}),
    ...opts.starlingEnv,
    ...variant.hook?.env
  })
  // A data dir of its own (unless one is given): the default ./data would keep a generated secret
  // key that the cluster benchmark's pods, started with another key, then fail to decrypt with
  const ownDataDir = env.STARLING_DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'starling-bench-data-')) : undefined
  if (ownDataDir !== undefined) env.STARLING_DATA_DIR = ownDataDir
  const name: BrokerName = variant.hook !== undefined ? 'starling-hook' : acl === undefined ? 'starling' : 'starling-acl'
  const child = track(spawn(process.execPath, [...cpuProfArgs(name), ...starlingNodeArgs(), entry, 'serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] }))
  if (ownDataDir !== undefined) child.once('exit', () => rmSync(ownDataDir, { recursive: true, force: true }))
  if (variant.hook !== undefined) child.once('exit', () => { void variant.hook?.stop() })
  let httpPort = 0
  const port = await readPort(child, (line) => {
    if (!line.includes('starling ready')) return null
    const match = /"mqtt@127\.0\.0\.1:(\d+)"/.exec(line)
    httpPort = Number(/"http":(\d+)/.exec(line)?.[1] ?? 0)
    return match?.[1] !== undefined ? Number(match[1]) : null
  })
  return { ...running(name, child, port, `starling serve from dist/, embedded mode, receiveMaximum ${opts.starlingReceiveMaximum}${acl === undefined ? '' : `, ACL of ${acl.length} rules`}${variant.hook?.note ?? ''}`), httpPort }
}

/**
 * Starling whose default broker's on-publish hook is hook-server.ts
 * (pass-through): the broker's settings are written into a fresh dataDir before it starts.
 * Tuning from BENCH_HOOK_BATCH, BENCH_HOOK_LINGER, BENCH_HOOK_CONCURRENCY (config defaults otherwise).
 */
async function launchStarlingWithHook (opts: LaunchOptions): Promise<RunningBroker> {
  const hook = track(spawn(process.execPath, ['--import', 'tsx', join(HERE, 'hook-server.ts')], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] }))
  const hookPort = await readPort(hook, (line) => {
    const match = /^\{"port":(\d+)\}$/.exec(line.trim())
    return match?.[1] !== undefined ? Number(match[1]) : null
  })
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-bench-hook-'))
  const secret = randomBytes(32).toString('base64')
  const tuning: Record<string, number> = {}
  for (const [key, name] of [['batchSize', 'BENCH_HOOK_BATCH'], ['lingerMs', 'BENCH_HOOK_LINGER'], ['concurrency', 'BENCH_HOOK_CONCURRENCY']] as const) {
    const raw = process.env[name]
    if (raw !== undefined && raw !== '') tuning[key] = Number(raw)
  }
  const { loadConfig } = await import('../../src/config/load.js')
  const { createIdentity } = await import('../../src/tenancy/identity.js')
  const { createLogger } = await import('../../src/logger.js')
  const config = loadConfig({ overrides: { nodeId: 'bench', dataDir, 'auth.secretKey': secret, 'log.level': 'silent' } })
  const identity = await createIdentity({ config, logger: createLogger('silent', 'bench') })
  try {
    await identity.tenancy.updateBroker('default', 'default', { onPublish: { url: `http://127.0.0.1:${hookPort}/`, ...tuning } })
  } finally {
    await identity.close()
  }
  const stop = async (): Promise<void> => {
    await stopChild(hook)
    rmSync(dataDir, { recursive: true, force: true })
  }
  const described = Object.entries(tuning).map(([k, v]) => `${k} ${v}`).join(', ')
  return await launchStarling(opts, {
    hook: {
      env: { STARLING_DATA_DIR: dataDir, STARLING_SECRET_KEY: secret },
      note: `, pass-through on-publish hook (separate process on loopback${described === '' ? ', config defaults' : `, ${described}`})`,
      stop
    }
  })
}

async function launchAedes (): Promise<RunningBroker> {
  const script = join(HERE, 'aedes-server.ts')
  const child = track(spawn(process.execPath, ['--import', 'tsx', ...cpuProfArgs('aedes'), script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] }))
  const port = await readPort(child, (line) => {
    const match = /^\{"port":(\d+)\}$/.exec(line.trim())
    return match?.[1] !== undefined ? Number(match[1]) : null
  })
  return running('aedes', child, port, 'bare aedes 2.0.0-beta.1 (with this repo\'s patches), no hooks, TCP_NODELAY')
}

/**
 * Where `--brokers aedes-npm` finds unpatched aedes, mqtt-packet and aedes-persistence (their
 * other dependencies resolve from the repo's node_modules above it), unpacked with:
 *   mkdir -p .tmp/aedes-npm/node_modules && cd .tmp/aedes-npm && npm pack aedes@2.0.0-beta.1 mqtt-packet@9.0.2 aedes-persistence@10.3.1
 *   for p in aedes:aedes-2.0.0-beta.1 mqtt-packet:mqtt-packet-9.0.2 aedes-persistence:aedes-persistence-10.3.1; do
 *     mkdir -p node_modules/${p%%:*} && tar xzf ${p#*:}.tgz -C node_modules/${p%%:*} --strip-components=1; done
 */
const AEDES_NPM_DIR = process.env.BENCH_AEDES_NPM_DIR ?? join(REPO, '.tmp', 'aedes-npm')

async function launchAedesFromNpm (): Promise<RunningBroker> {
  const entry = join(AEDES_NPM_DIR, 'node_modules', 'aedes', 'aedes.js')
  if (!existsSync(entry)) throw new Error(`--brokers aedes-npm needs unpatched aedes in ${AEDES_NPM_DIR} (see AEDES_NPM_DIR in loadtest/bench/brokers.ts)`)
  const script = join(HERE, 'aedes-server.ts')
  const env = { ...process.env, BENCH_AEDES_MODULE: entry }
  const child = track(spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'inherit'] }))
  const port = await readPort(child, (line) => {
    const match = /^\{"port":(\d+)\}$/.exec(line.trim())
    return match?.[1] !== undefined ? Number(match[1]) : null
  })
  return running('aedes-npm', child, port, `bare aedes 2.0.0-beta.1 from npm, unpatched (${entry}), no hooks, TCP_NODELAY`)
}

async function launchMosquitto (): Promise<RunningBroker> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'starling-bench-mosq-'))
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    // defaults (1000 queued, 20 in flight) silently drop most of a fan-in burst
    'max_queued_messages 1000000',
    'max_inflight_messages 1000',
    // TCP_NODELAY like Starling's listener and the bare-aedes script
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    ''
  ].join('\n'))
  const child = track(spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] }))
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  await waitForPort(child, port, 5000)
  return running('mosquitto', child, port, 'mosquitto, persistence off, max_queued_messages 1000000, max_inflight_messages 1000, set_tcp_nodelay true')
}

function track (child: ChildProcess): ChildProcess {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function running (name: BrokerName, child: ChildProcess, port: number, note: string): RunningBroker {
  const pid = child.pid
  if (pid === undefined) throw new Error(`${name} did not start`)
  const alive = (): boolean => child.exitCode === null && child.signalCode === null
  return { name, port, pid, note, alive, stop: async () => await stopChild(child) }
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. */
async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** `BENCH_CPU_PROF=<broker>` starts that node broker with --cpu-prof into .tmp/bench-prof/. */
function cpuProfArgs (name: BrokerName): string[] {
  if (process.env.BENCH_CPU_PROF !== name) return []
  return ['--cpu-prof', '--cpu-prof-dir', join(REPO, '.tmp', 'bench-prof')]
}

/** `BENCH_STARLING_NODE_ARGS="--heap-growing-percent=0"`: node flags for the Starling brokers (A/B of heap settings). */
function starlingNodeArgs (): string[] {
  return (process.env.BENCH_STARLING_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
}

/** Reads stdout lines until `parse` yields a port (10 s at most). */
async function readPort (child: ChildProcess, parse: (line: string) => number | null): Promise<number> {
  const stdout = child.stdout
  if (stdout === null) throw new Error('child has no stdout')
  const lines = createInterface({ input: stdout })
  const found = new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      const port = parse(line)
      if (port !== null) resolve(port)
    })
    child.once('exit', (code) => reject(new Error(`broker exited with ${String(code)} before listening`)))
  })
  try {
    return await withTimeout(found, 10_000, 'the broker to listen')
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

async function freePort (): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Polls a TCP connect every 50 ms until it succeeds or `timeoutMs` passes. */
async function waitForPort (child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const attempts = Math.ceil(timeoutMs / 50)
  for (let i = 0; i < attempts; i++) {
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stopChild(child)
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`)
}
