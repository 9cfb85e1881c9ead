import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectClient, refusedCode, sleep, stopClient } from '../helpers/clients.js'
import { startPods } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// `clientIdConflict: reject` holds across pods: a client id connected on one pod is refused on
// every other (CONNACK 0x85 in v5, return code 2 in 3.1.1) until it disconnects or its pod dies.

const env = { STARLING_CLIENT_ID_CONFLICT: 'reject', STARLING_CLUSTER_HEARTBEAT_MS: '300', STARLING_CLUSTER_MEMBER_TTL_MS: '900' }

/** Retries the CONNECT (its first refusals are expected) until it is accepted, bounded. */
async function acceptedWithin (url: string, clientId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let code: number | undefined = -1
  while (Date.now() < deadline) {
    try {
      code = await refusedCode(url, { protocolVersion: 5, clientId })
    } catch {
      return // connected
    }
    await sleep(100)
  }
  throw new Error(`${clientId} still refused with ${code}`)
}

test('cluster: clientIdConflict reject refuses a client id connected on another pod', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url, env })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)

  const first = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'only-one' })
  assert.equal(await refusedCode(b.url, { protocolVersion: 5, clientId: 'only-one' }), 0x85, 'v5: CONNACK 0x85 Client Identifier not valid')
  assert.equal(await refusedCode(c.url, { protocolVersion: 4, clientId: 'only-one' }), 2, '3.1.1: CONNACK 2 Identifier rejected')
  assert.equal(first.connected, true, 'the first connection is untouched')

  // Once it disconnects, the id is free everywhere.
  await stopClient(first)
  await acceptedWithin(b.url, 'only-one', 3000)

  // The pod holding a connection dies: once it has left the membership, the id is free again.
  await connectClient(t, c.url, { protocolVersion: 5, clientId: 'on-dead-pod' })
  assert.equal(await refusedCode(a.url, { protocolVersion: 5, clientId: 'on-dead-pod' }), 0x85)
  await c.kill('SIGKILL')
  await acceptedWithin(a.url, 'on-dead-pod', 5000)
})
