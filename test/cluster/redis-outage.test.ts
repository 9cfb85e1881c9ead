import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { collect, connectClient, refusedCode, waitFor } from '../helpers/clients.js'
import { freePort } from '../helpers/haproxy.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// Readiness follows Redis: while it is unreachable a pod answers /readyz with 503 and refuses
// new CONNECTs with "server unavailable"; it recovers by itself when Redis is back.

async function readyzBecomes (pod: Pod, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = -1
  while (Date.now() < deadline) {
    last = await pod.readyz()
    if (last === status) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${pod.id} /readyz stayed ${last}, expected ${status}`)
}

test('cluster: a pod is not ready while Redis is down and recovers on its own', async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: redis.url })
  assert.ok(a !== undefined && b !== undefined)
  assert.equal(await a.readyz(), 200)
  const sub = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'outage-sub' })
  await sub.subscribeAsync({ 'outage/#': { qos: 1 } })

  await redis.stop('SIGKILL')
  await Promise.all([readyzBecomes(a, 503, 5000), readyzBecomes(b, 503, 5000)])
  assert.equal(await refusedCode(a.url, { protocolVersion: 5, clientId: 'outage-v5' }), 0x88, 'CONNACK 0x88 Server unavailable')
  assert.equal(await refusedCode(a.url, { protocolVersion: 4, clientId: 'outage-v4' }), 3, 'CONNACK 3 Server unavailable')
  assert.equal(a.logLines(/^redis connection lost$/).length, 1, 'one log line for the outage')

  await redis.start()
  await Promise.all([readyzBecomes(a, 200, 10000), readyzBecomes(b, 200, 10000)])
  await waitFor(() => a.logLines(/^redis connection restored$/).length === 1, 2000, 'the restored log line')

  // Messages cross pods again: B's subscription is re-established on the new connection.
  const got = collect(sub)
  const pub = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'outage-pub' })
  await pub.publishAsync('outage/after', 'back', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 'a message across pods after the outage')
  assert.equal(got[0]?.payload.toString(), 'back')
})

test('cluster: a pod that cannot reach Redis at start exits 1 with STARLING_ERR_REDIS_UNAVAILABLE', async (t) => {
  const port = await freePort() // nothing listens there
  const bin = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))
  const child = spawn(process.execPath, [bin, 'serve', '--redis-url', `redis://:secret-pw@127.0.0.1:${port}`, '--mqtt-port', '0', '--http-port', '0'], {
    env: { PATH: process.env.PATH ?? '', STARLING_WS_ENABLED: 'false', STARLING_MQTT_HOST: '127.0.0.1', STARLING_HTTP_HOST: '127.0.0.1', STARLING_REDIS_START_TIMEOUT_MS: '500' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  assert.equal(code, 1, out)
  assert.match(out, /STARLING_ERR_REDIS_UNAVAILABLE/)
  assert.doesNotMatch(out, /secret-pw/, 'the password never appears in logs or errors')
})

test('cluster: a pod asked to drain while Redis is down still exits 0 within its drain time plus the flush bound', async (t) => {
  const redis = await startRedis(t)
  const [pod] = await startPods(t, ['pod-drain-outage'], { redisUrl: redis.url, env: { STARLING_DRAIN_SECONDS: '2' } })
  assert.ok(pod !== undefined)
  const client = await connectClient(t, pod.url, { protocolVersion: 5, clientId: 'drain-outage', clean: false, properties: { sessionExpiryInterval: 60 } })
  await client.subscribeAsync({ 'drain/#': { qos: 1 } })
  await redis.stop('SIGKILL')
  await readyzBecomes(pod, 503, 5000)
  const started = Date.now()
  const exit = await pod.kill('SIGTERM', 15000)
  assert.equal(exit.code, 0, 'exit status 0')
  // drainSeconds (2 s) for clients, then at most the rest of it (>= 1 s) for each Redis flush step.
  assert.ok(Date.now() - started < 9000, `exited after ${Date.now() - started} ms`)
})
