import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { collect, connectClient, waitFor } from '../helpers/clients.js'

// `starling local-cluster`: redis-server, two pods and HAProxy (PROXY v2 to the pods) on free
// loopback ports; a client goes through HAProxy; SIGTERM to the launcher stops every process.
// Build first: `npm run build`.

const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('local cluster: MQTT round trip through HAProxy with PROXY v2, and SIGTERM stops every process it started', async (t) => {
  const launcher = spawn(process.execPath, [BIN, 'local-cluster', '--pods', '2', '--base-port', '0'], {
    // debug: the pods' 'client connected' lines (the PROXY v2 source address) are debug-level
    env: { PATH: process.env.PATH ?? '', STARLING_DRAIN_SECONDS: '2', STARLING_WS_ENABLED: 'false', STARLING_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  launcher.stdout.on('data', (d: Buffer) => { out += d.toString() })
  launcher.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)))
  const childPids = (): number[] => [...(/processes: (.*)/.exec(out)?.[1] ?? '').matchAll(/=(\d+)/g)].map((m) => Number(m[1]))
  t.after(() => {
    // Whatever the test's outcome, nothing it started outlives it.
    if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL')
    for (const pid of childPids()) if (alive(pid)) process.kill(pid, 'SIGKILL')
  })

  await waitFor(() => out.includes('Ctrl-C stops everything.') || launcher.exitCode !== null, 40000, 'the local cluster to come up')
  assert.ok(out.includes('Ctrl-C stops everything.'), `launcher output:\n${out}\n${err}`)
  const mqttUrl = /MQTT \(HAProxy, round robin\): (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
  assert.ok(mqttUrl !== undefined, out)
  const logs = [...out.matchAll(/log (\S+\.log)/g)].map((m) => m[1] ?? '')
  assert.equal(logs.length, 2)
  const pids = childPids()
  assert.equal(pids.length, 4, 'redis, two pods, haproxy')

  // Round robin: two connections land on the two pods; a message crosses between them.
  const sub = await connectClient(t, mqttUrl, { protocolVersion: 5, clientId: 'lc-sub' })
  await sub.subscribeAsync('lc/#', { qos: 1 })
  const got = collect(sub)
  const pub = await connectClient(t, mqttUrl, { protocolVersion: 5, clientId: 'lc-pub' })
  await pub.publishAsync('lc/round/trip', 'hello', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'the message through HAProxy')
  assert.equal(got[0]?.topic, 'lc/round/trip')
  assert.equal(got[0]?.payload.toString(), 'hello')

  // PROXY v2: the pods log the client's own address (127.0.0.1), not a missing-header warning.
  const connected = (): Array<Record<string, unknown>> => logs.flatMap((file) => readFileSync(file, 'utf8').split('\n')
    .filter((line) => line.includes('"client connected"')).map((line) => JSON.parse(line) as Record<string, unknown>))
  await waitFor(() => connected().length >= 2, 3000, 'client connected log lines')
  for (const line of connected()) assert.equal(line.remoteAddress, '127.0.0.1')
  assert.deepEqual(new Set(connected().map((line) => line.nodeId)), new Set(['pod-1', 'pod-2']), 'round robin over both pods')
  for (const file of logs) assert.ok(!readFileSync(file, 'utf8').includes('PROXY protocol header missing'), file)
  await Promise.all([sub.endAsync(), pub.endAsync()])

  launcher.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([exited, new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), 20000) })])
  clearTimeout(timer)
  assert.equal(code, 0, `launcher exit; stderr:\n${err}`)
  await waitFor(() => pids.every((pid) => !alive(pid)), 2000, 'every child process to be gone')
  assert.ok(!err.includes('exited unexpectedly'), err)
})
