import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { clusterSeedsOf } from './redis.js'

// Pods run the compiled code in dist/: `npm run build` first (`npm test` does).
const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))
const DIST = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url))

/** `STARLING_SECRET_KEY` of test pods (a test's own identity store on the same Redis needs it too). */
export const POD_SECRET_KEY = 'test pods secret key, at least thirty-two characters'

/** One `starling serve` process on loopback. */
export interface Pod {
  readonly id: string
  readonly mqttPort: number
  readonly httpPort: number
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string
  readonly child: ChildProcess
  /** Its stdout so far (JSON log lines) and stderr. */
  stdout (): string
  stderr (): string
  /** Parsed log lines whose `msg` matches. */
  logLines (msg: RegExp): Array<Record<string, unknown>>
  /** GET /readyz status code (0 when the HTTP port does not answer). */
  readyz (): Promise<number>
  /** Sends `signal` and waits (bounded) for the process to exit. */
  kill (signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface PodOptions {
  /** `--redis-url`; '' to configure Redis through `env` only (e.g. STARLING_REDIS_CLUSTER_NODES). */
  readonly redisUrl: string
  /** Extra `STARLING_*` environment, e.g. `{ STARLING_CLIENT_ID_CONFLICT: 'reject' }`. */
  readonly env?: Readonly<Record<string, string>>
  readonly readyTimeoutMs?: number
}

interface ReadyLine { listeners?: string[], http?: number }

function portOf (listeners: readonly string[], name: string): number {
  const entry = listeners.find((l) => l.startsWith(`${name}@`))
  return entry === undefined ? 0 : Number(entry.slice(entry.lastIndexOf(':') + 1))
}

/** Starts one pod with `--node-id id` on port 0 everywhere; resolves once it logs `starling ready`. */
export async function startPod (t: TestContext, id: string, options: PodOptions): Promise<Pod> {
  if (!existsSync(DIST)) throw new Error('dist/ is missing: run `npm run build` before the cluster tests')
  const redisFlag = options.redisUrl !== '' ? ['--redis-url', options.redisUrl] : []
  // Cluster mode needs the operator secret (auth.secretKey); an embedded pod writes its data
  // directory (tenancy, generated secret): a private one, never the working directory.
  const dataDir = mkdtempSync(join(tmpdir(), `starling-pod-${id}-`))
  // STARLING_TEST_REDIS=cluster: the url names a node of a Redis Cluster (helpers/redis.ts)
  const seeds = clusterSeedsOf(options.redisUrl)
  const clusterEnv = seeds !== undefined ? { STARLING_REDIS_CLUSTER_NODES: JSON.stringify(seeds) } : {}
  const child = spawn(process.execPath, [BIN, 'serve', '--node-id', id, ...redisFlag, '--mqtt-port', '0', '--http-port', '0'], {
    env: {
      PATH: process.env.PATH ?? '',
      STARLING_MQTT_HOST: '127.0.0.1',
      STARLING_HTTP_HOST: '127.0.0.1',
      STARLING_WS_ENABLED: 'false',
      STARLING_LOG_LEVEL: 'info',
      STARLING_DRAIN_SECONDS: '3',
      STARLING_REDIS_START_TIMEOUT_MS: '10000',
      // Cluster pods encrypt brokers' signing keys with it (required); one for every pod of a test.
      STARLING_SECRET_KEY: POD_SECRET_KEY,
      STARLING_DATA_DIR: dataDir,
      // Cluster mode makes the default broker TOKEN; tests of other areas connect anonymously.
      // Identity tests set TOKEN here.
      STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'NONE',
      ...clusterEnv,
      ...options.env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  const kill = async (signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs) })
    const result = await Promise.race([exited, late])
    clearTimeout(timer)
    if (result !== 'late') return result
    child.kill('SIGKILL')
    return await exited
  }
  t.after(async () => {
    // POD_LOG_DIR=<dir>: each pod's output is kept there (`<id>-<pid>.log`), to read after a failure
    if (process.env.POD_LOG_DIR !== undefined) writeFileSync(join(process.env.POD_LOG_DIR, `${id}-${child.pid ?? 0}.log`), `${out}\nstderr:\n${err}`)
    await kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })

  const lines = (msg: RegExp): Array<Record<string, unknown>> => out.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return []
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>
      return msg.test(String(parsed.msg)) ? [parsed] : []
    } catch { return [] }
  })

  const deadline = Date.now() + (options.readyTimeoutMs ?? 20000)
  let ready: ReadyLine | undefined
  while (ready === undefined) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pod ${id} exited before it was ready: ${err}${out}`)
    if (Date.now() > deadline) {
      await kill('SIGKILL')
      throw new Error(`pod ${id} was not ready in time: ${err}${out}`)
    }
    ready = lines(/^starling ready$/)[0] as ReadyLine | undefined
    if (ready === undefined) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const mqttPort = portOf(ready.listeners ?? [], 'mqtt')
  const httpPort = ready.http ?? 0
  return {
    id,
    mqttPort,
    httpPort,
    url: `mqtt://127.0.0.1:${mqttPort}`,
    child,
    stdout: () => out,
    stderr: () => err,
    logLines: lines,
    async readyz () {
      try {
        const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(2000) })
        return res.status
      } catch {
        return 0
      }
    },
    kill,
    exited
  }
}

/** Starts `ids.length` pods sharing one Redis (in parallel); all are stopped after the test. */
export function startPods (t: TestContext, ids: readonly string[], options: PodOptions): Promise<Pod[]> {
  return Promise.all(ids.map((id) => startPod(t, id, options)))
}
