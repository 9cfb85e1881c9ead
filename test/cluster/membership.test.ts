import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { connectClient } from '../helpers/clients.js'
import { freePort } from '../helpers/haproxy.js'
import { startTestNode } from '../helpers/node.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis, testRedisIsCluster } from '../helpers/redis.js'

// Cluster membership: three `starling serve` processes on one redis-server register themselves
// with a short heartbeat; GET /cluster and `starling cluster status` list the live ones.
// Build first: `npm run build`.

const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))
const HEARTBEAT_MS = 200
const TTL_MS = 1000
// /cluster is behind the admin token.
const ADMIN_TOKEN = 'membership-admin-token-0123456789'
const env = { STARLING_CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS), STARLING_CLUSTER_MEMBER_TTL_MS: String(TTL_MS), STARLING_ADMIN_TOKEN: ADMIN_TOKEN }

interface PodEntry { id: string, version: string, connections: number, addresses: Record<string, string>, startedAt: string, lastHeartbeatAt: string }

async function clusterOf (httpPort: number): Promise<PodEntry[]> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/cluster`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(4000) })
  assert.equal(res.status, 200)
  return ((await res.json()) as { pods: PodEntry[] }).pods
}

const ids = (pods: readonly PodEntry[]): string[] => pods.map((p) => p.id)

/** Polls `read` until `accept` holds (bounded); returns the last value read. */
async function until<T> (read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (accept(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function runCli (args: readonly string[], timeoutMs = 15000): Promise<{ code: number | null, stdout: string, stderr: string, ms: number }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`starling ${args.join(' ')} did not exit within ${timeoutMs} ms`)) }, timeoutMs)
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: Date.now() - started }) })
  })
}

test('cluster membership: /cluster and `starling cluster status` list live pods; killed pods expire, drained pods leave', async (t) => {
  const redis = await startRedis(t)
  const pods = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url, env })
  const [a, b, c] = pods as [Pod, Pod, Pod]

  await t.test('GET /cluster on any pod lists all three, with addresses, version and connections', async (t) => {
    const client = await connectClient(t, b.url, { clientId: 'member-count' })
    for (const pod of pods) {
      const listed = await until(() => clusterOf(pod.httpPort), (list) => list.find((p) => p.id === 'pod-b')?.connections === 1, 3000, 'pod-b with one connection')
      assert.deepEqual(ids(listed), ['pod-a', 'pod-b', 'pod-c'])
    }
    const listed = await clusterOf(a.httpPort)
    for (const pod of pods) {
      const entry = listed.find((p) => p.id === pod.id)
      assert.ok(entry !== undefined)
      assert.equal(entry.addresses.mqtt, `127.0.0.1:${pod.mqttPort}`)
      assert.equal(entry.addresses.http, `127.0.0.1:${pod.httpPort}`)
      assert.match(entry.version, /^\d+\.\d+\.\d+/)
      assert.ok(Date.now() - Date.parse(entry.lastHeartbeatAt) < TTL_MS + 1000)
      assert.ok(Date.parse(entry.startedAt) <= Date.parse(entry.lastHeartbeatAt))
    }
    await client.endAsync()
  })

  await t.test('`starling cluster status --redis-url` prints a table of the live pods and exits 0', async () => {
    const result = await runCli(['cluster', 'status', '--redis-url', redis.url])
    assert.equal(result.code, 0, result.stderr)
    const lines = result.stdout.trim().split('\n')
    assert.match(lines[0] ?? '', /^ID\s+MQTT\s+HTTP\s+.*VERSION\s+CONNECTIONS\s+UPTIME\s+LAST SEEN$/)
    for (const pod of pods) {
      const row = lines.find((line) => line.startsWith(pod.id + ' '))
      assert.ok(row !== undefined, `row for ${pod.id} in\n${result.stdout}`)
      assert.ok(row.includes(`127.0.0.1:${pod.mqttPort}`) && row.includes(`127.0.0.1:${pod.httpPort}`), row)
    }
    assert.ok(lines.includes('3 pods live'), result.stdout)
    // then Redis: its topology and, per shard, the bus channels and their subscriptions
    const redisTitle = lines.findIndex((line) => line.startsWith('Redis'))
    assert.ok(redisTitle > lines.indexOf('3 pods live'), result.stdout)
    assert.match(lines[redisTitle + 1] ?? '', /^NODE\s+ROLE\s+SLOTS\s+BUS CHANNELS\s+SUBSCRIPTIONS\s+SPUBLISH\/S\s+PUBLISH\/S\s+CPU%$/)
    const masters = lines.slice(redisTitle + 2).filter((line) => /\smaster\s/.test(line))
    assert.equal(masters.length, testRedisIsCluster() ? 3 : 1, result.stdout)
    const channels = masters.reduce((n, line) => n + Number(line.split(/\s{2,}/)[3]), 0)
    assert.equal(channels, 64, 'every bus channel on exactly one shard')
  })

  await t.test('a SIGKILLed pod stays listed until its TTL runs out, then disappears', async () => {
    await c.kill('SIGKILL')
    const killedAt = Date.now()
    assert.ok(ids(await clusterOf(a.httpPort)).includes('pod-c'), 'still listed right after the kill (no heartbeat has expired yet)')
    await until(() => clusterOf(a.httpPort), (list) => !ids(list).includes('pod-c'), TTL_MS + 3000, 'pod-c to expire')
    // The entry expires TTL after the last heartbeat, which on a loaded machine may have run well
    // before the kill: half the TTL still tells "expired by TTL" from "removed at the kill".
    assert.ok(Date.now() - killedAt >= TTL_MS / 2, 'not before its TTL')
    assert.deepEqual(ids(await clusterOf(b.httpPort)), ['pod-a', 'pod-b'])
  })

  await t.test('a SIGTERMed (drained) pod leaves the registry at once', async () => {
    const exit = await b.kill('SIGTERM')
    assert.equal(exit.code, 0)
    assert.deepEqual(ids(await clusterOf(a.httpPort)), ['pod-a'])
  })
})

test('`starling cluster status` exits non-zero with a clear message, in bounded time, when Redis is unreachable', async () => {
  const port = await freePort()
  const result = await runCli(['cluster', 'status', '--redis-url', `redis://127.0.0.1:${port}`, '--timeout-ms', '1500'])
  assert.equal(result.code, 1)
  assert.equal(result.stdout, '')
  assert.match(result.stderr, new RegExp(`STARLING_ERR_REDIS_UNAVAILABLE: Redis \\(redis standalone 127\\.0\\.0\\.1:${port}/0\\) did not answer within 1500 ms`))
  assert.ok(result.ms < 10000, `took ${result.ms} ms`)
})

test('embedded mode: GET /cluster lists just this pod', async (t) => {
  const { httpPort, mqttPort } = await startTestNode(t, { nodeId: 'solo', 'api.adminTokens': [ADMIN_TOKEN] })
  const pods = await clusterOf(httpPort)
  assert.deepEqual(ids(pods), ['solo'])
  assert.equal(pods[0]?.addresses.mqtt, `127.0.0.1:${mqttPort}`)
  assert.equal(pods[0]?.connections, 0)
})

test('Redis Cluster: pods register and list each other (membership keys share one slot)', async (t) => {
  const redis = await startRedis(t, { cluster: true })
  const common = { 'redis.cluster.nodes': [`127.0.0.1:${redis.port}`], 'cluster.heartbeatMs': HEARTBEAT_MS, 'cluster.memberTtlMs': TTL_MS, 'api.adminTokens': [ADMIN_TOKEN] }
  const one = await startTestNode(t, { ...common, nodeId: 'rc-1' })
  const two = await startTestNode(t, { ...common, nodeId: 'rc-2' })
  assert.deepEqual(ids(await clusterOf(one.httpPort)), ['rc-1', 'rc-2'])
  await two.node.close()
  assert.deepEqual(ids(await clusterOf(one.httpPort)), ['rc-1'])
  // Drained while Redis is still up (the after hooks stop Redis first).
  await one.node.close()
})

test('a pod whose bus layout differs from the live members says so at start (not a rolling change)', async (t) => {
  const redis = await startRedis(t)
  const first = await startTestNode(t, { nodeId: 'layout-3', 'redis.url': redis.url })
  const same = await startTestNode(t, { nodeId: 'layout-3b', 'redis.url': redis.url })
  const other = await startTestNode(t, { nodeId: 'layout-1', 'redis.url': redis.url, 'cluster.messageRouteLevels': 1 })
  const warning = /bus layout .* differs from other pods/
  assert.equal(first.logs.find(warning), undefined)
  assert.equal(same.logs.find(warning), undefined, 'the same layout is no news')
  const logged = other.logs.find(warning)
  assert.ok(logged !== undefined, 'the odd pod logs the difference')
  assert.equal(logged.busLayout, '64/1')
  assert.deepEqual(logged.members, ['layout-3=64/3', 'layout-3b=64/3'])
})
