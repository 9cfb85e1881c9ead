import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { freePort, haproxyConfig, type ClusterPlan } from '../../src/cli/local-cluster-plan.js'

export { freePort } from '../../src/cli/local-cluster-plan.js'

function canConnect (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Starts HAProxy in TCP mode on loopback: for each backend port, a frontend on a free port that
 * forwards to it with `send-proxy-v2`. Returns the frontend ports in the same order; HAProxy is
 * stopped after the test.
 */
export async function startHaproxy (t: TestContext, backendPorts: number[]): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-haproxy-'))
  const frontends: number[] = []
  for (let i = 0; i < backendPorts.length; i++) frontends.push(await freePort())
  const sections = backendPorts.map((backend, i) => [
    `frontend fe${i}`, `  bind 127.0.0.1:${frontends[i]}`, `  default_backend be${i}`,
    `backend be${i}`, `  server node 127.0.0.1:${backend} send-proxy-v2`
  ].join('\n'))
  const config = [
    'global', '  maxconn 64',
    'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 30s', '  timeout server 30s',
    ...sections, ''
  ].join('\n')
  await runHaproxy(t, dir, config, frontends)
  return frontends
}

/**
 * HAProxy as `starling local-cluster` runs it (one frontend, round robin, `/readyz` health
 * checks every second, PROXY protocol v2) in front of `pods`; resolves with its MQTT port.
 */
export async function startBalancer (t: TestContext, pods: ReadonlyArray<{ id: string, mqttPort: number, httpPort: number }>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'starling-haproxy-'))
  const plan: ClusterPlan = {
    mqttPort: await freePort(),
    redisPort: 0,
    statsPort: await freePort(),
    pods: pods.map((pod) => ({ id: pod.id, mqttPort: pod.mqttPort, wsPort: 0, httpPort: pod.httpPort }))
  }
  await runHaproxy(t, dir, haproxyConfig(plan), [plan.mqttPort])
  return plan.mqttPort
}

/** Runs HAProxy with `config` (written in `dir`, removed after the test) until `frontends` accept connections. */
async function runHaproxy (t: TestContext, dir: string, config: string, frontends: readonly number[]): Promise<void> {
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(file, config)
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.after(async () => {
    child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(resolve, 3000) })])
    clearTimeout(timer)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const deadline = Date.now() + 5000
  for (const port of frontends) {
    let up = false
    while (!up && Date.now() < deadline && child.exitCode === null) {
      up = await canConnect(port)
      if (!up) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    if (!up) throw new Error(`haproxy did not listen on ${port}: ${stderr}`)
  }
}
