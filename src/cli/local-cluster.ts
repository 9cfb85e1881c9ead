import { randomBytes } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCommandArgs } from './args.js'
import { StarlingError } from '../errors.js'
import { haproxyConfig, planCluster, type ClusterPlan } from './local-cluster-plan.js'
import { withTimeout } from '../util/timeout.js'

export const LOCAL_CLUSTER_USAGE = 'usage: starling local-cluster [--pods N] [--base-port P] [--keep-logs]'

const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))
const START_TIMEOUT_MS = 30000
const STOP_TIMEOUT_MS = 10000

interface Child { readonly name: string, readonly process: ChildProcess, readonly exited: Promise<void>, expected: boolean }

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function tcpOpen (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
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

function parseLocalClusterArgs (argv: readonly string[]): { pods: number, basePort: number, keepLogs: boolean } {
  const { values } = parseCommandArgs(argv, { pods: { type: 'string' }, 'base-port': { type: 'string' }, 'keep-logs': { type: 'boolean' } }, LOCAL_CLUSTER_USAGE)
  const pods = Number(values.pods ?? '3')
  const basePort = Number(values['base-port'] ?? '11883')
  if (!Number.isInteger(pods) || pods < 1 || pods > 50) throw new StarlingError('STARLING_ERR_CLI_USAGE', [`--pods: 1 to 50\n${LOCAL_CLUSTER_USAGE}`])
  if (!Number.isInteger(basePort) || basePort < 0 || (basePort !== 0 && basePort + 10 * pods + 2 > 65535)) {
    throw new StarlingError('STARLING_ERR_CLI_USAGE', [`--base-port: 0 (free ports) or a port with room for ${10 * pods + 3} above it\n${LOCAL_CLUSTER_USAGE}`])
  }
  return { pods, basePort, keepLogs: values['keep-logs'] === true }
}

function endpoints (plan: ClusterPlan, dir: string, children: readonly Child[]): string {
  return [
    'starling local cluster is up',
    `  MQTT (HAProxy, round robin): mqtt://127.0.0.1:${plan.mqttPort}`,
    `  HAProxy stats: http://127.0.0.1:${plan.statsPort}/`,
    `  Redis: redis://127.0.0.1:${plan.redisPort}`,
    ...plan.pods.map((pod) => `  ${pod.id}: mqtt://127.0.0.1:${pod.mqttPort} (expects PROXY v2: use HAProxy) ws://127.0.0.1:${pod.wsPort}/mqtt http://127.0.0.1:${pod.httpPort} (/cluster /readyz /metrics) log ${join(dir, `${pod.id}.log`)}`),
    `  status: npx starling cluster status --redis-url redis://127.0.0.1:${plan.redisPort}`,
    `  processes: ${children.map((c) => `${c.name}=${c.process.pid ?? '?'}`).join(' ')}`,
    'Ctrl-C stops everything.',
    ''
  ].join('\n')
}

/**
 * `starling local-cluster`: redis-server, N `starling serve` pods and HAProxy (TCP round robin,
 * PROXY v2, `/readyz` checks) on loopback. Prints the endpoints and runs until SIGINT/SIGTERM,
 * then stops every process it started (pods drain first) and removes its temp dir. A child that
 * dies meanwhile is reported; losing Redis or HAProxy ends the whole cluster with status 1.
 */
export async function localCluster (argv: readonly string[]): Promise<number> {
  const options = parseLocalClusterArgs(argv)
  const plan = await planCluster(options.pods, options.basePort)
  const dir = mkdtempSync(join(tmpdir(), 'starling-local-cluster-'))
  const children: Child[] = []
  let stopping = false
  let interrupted = false
  let failed = false
  let wake: () => void = () => {}
  const stopped = new Promise<void>((resolve) => { wake = resolve })

  const start = (name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Child => {
    const log = openSync(join(dir, `${name}.log`), 'a')
    const proc = spawn(command, args, { env, stdio: ['ignore', log, log] })
    closeSync(log)
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    const child: Child = { name, process: proc, exited, expected: false }
    proc.once('error', (err) => process.stderr.write(`local-cluster: cannot start ${name}: ${err.message}\n`))
    proc.once('exit', (code, signal) => {
      if (stopping || child.expected) return
      process.stderr.write(`local-cluster: ${name} (pid ${proc.pid ?? '?'}) exited unexpectedly (${signal ?? `code ${code ?? '?'}`}); log: ${join(dir, `${name}.log`)}\n`)
      if (!name.startsWith('pod-')) { failed = true; wake() }
    })
    children.push(child)
    return child
  }

  const stopAll = async (): Promise<void> => {
    stopping = true
    // Pods first (they drain and leave the registry), then HAProxy, then Redis.
    const order = [children.filter((c) => c.name.startsWith('pod-')), children.filter((c) => c.name === 'haproxy'), children.filter((c) => c.name === 'redis')]
    for (const group of order) {
      for (const child of group) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGTERM')
      const all = Promise.all(group.map((c) => c.exited))
      if (await withTimeout(all.then(() => true), STOP_TIMEOUT_MS, () => false)) continue
      for (const child of group) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL')
      await all
    }
  }

  const onSignal = (): void => { interrupted = true; wake() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const redis = start('redis', 'redis-server', ['--port', String(plan.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], process.env)
    await waitFor('redis', () => tcpOpen(plan.redisPort), redis, () => interrupted || failed)
    const redisUrl = `redis://127.0.0.1:${plan.redisPort}`
    // A throwaway Redis: a throwaway secret for its signing keys (the same for every pod), unless the operator gives one.
    const secretKey = randomBytes(32).toString('base64')
    const pods = plan.pods.map((pod) => start(pod.id, process.execPath, [BIN, 'serve', '--node-id', pod.id, '--redis-url', redisUrl,
      '--mqtt-port', String(pod.mqttPort), '--ws-port', String(pod.wsPort), '--http-port', String(pod.httpPort)], {
      STARLING_SECRET_KEY: secretKey,
      // Loopback only, for development: anonymous like the embedded quick start unless asked otherwise.
      STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'NONE',
      ...process.env,
      STARLING_MQTT_HOST: '127.0.0.1',
      STARLING_HTTP_HOST: '127.0.0.1',
      STARLING_MQTT_PROXY_PROTOCOL: 'true'
    }))
    await Promise.all(plan.pods.map((pod, i) => waitFor(pod.id, () => httpOk(pod.httpPort, '/readyz'), pods[i], () => interrupted || failed)))
    const cfg = join(dir, 'haproxy.cfg')
    writeFileSync(cfg, haproxyConfig(plan))
    const haproxy = start('haproxy', 'haproxy', ['-db', '-f', cfg], process.env)
    await waitFor('haproxy', () => tcpOpen(plan.mqttPort), haproxy, () => interrupted || failed)
    process.stdout.write(endpoints(plan, dir, children))
    await stopped
    if (!failed) process.stdout.write('local-cluster: stopping\n')
  } catch (err) {
    if (!interrupted) {
      failed = true
      process.stderr.write(`local-cluster: ${(err as Error).message}; logs in ${dir}\n`)
    }
  } finally {
    await stopAll()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (!options.keepLogs && !failed) rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`local-cluster: logs kept in ${dir}\n`)
  }
  return failed ? 1 : 0
}

async function waitFor (name: string, check: () => Promise<boolean>, child: Child | undefined, abort: () => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (child !== undefined && (child.process.exitCode !== null || child.process.signalCode !== null)) throw new StarlingError('STARLING_ERR_LOCAL_CLUSTER', [`${name} exited during start`])
    if (abort()) throw new StarlingError('STARLING_ERR_LOCAL_CLUSTER', [`stopped while starting ${name}`])
    if (await check()) return
    await sleep(100)
  }
  throw new StarlingError('STARLING_ERR_LOCAL_CLUSTER', [`${name} did not come up within ${START_TIMEOUT_MS} ms`])
}
