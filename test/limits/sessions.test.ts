import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { connectClient, connectWithAck, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// limits.maxSessionExpirySeconds (default 7 days) bounds every session that outlives its
// connection: an MQTT 5 client asking for more (or "never") gets the bound in CONNACK, and 3.1.1
// persistent sessions (Clean Session 0), which asked for nothing, expire after it too — 3.1.1
// leaves their lifetime to the server [MQTT-3.1.2-4].

async function legacySessionExpires (t: TestContext, overrides: Record<string, unknown>): Promise<void> {
  const { url } = await startTestNode(t, { 'limits.maxSessionExpirySeconds': 1, 'cluster.heartbeatMs': 200, ...overrides })
  const legacy = await connectClient(t, url, { protocolVersion: 4, clientId: 'legacy-bounded', clean: false })
  await legacy.subscribeAsync('legacy/#', { qos: 1 })
  const kept = await connectClient(t, url, { protocolVersion: 4, clientId: 'legacy-resumed', clean: false })
  await kept.subscribeAsync('legacy/#', { qos: 1 })
  legacy.end(true)
  kept.end(true)
  await waitFor(() => legacy.disconnected && kept.disconnected, 2000, 'both closed')
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'legacy-pub' })
  await pub.publishAsync('legacy/a', 'queued', { qos: 1 })
  // Within the bound the session is resumed with its queued message.
  const back = await connectWithAck(t, url, { protocolVersion: 4, clientId: 'legacy-resumed', clean: false })
  assert.equal(back.connack.sessionPresent, true)
  await waitFor(() => back.got.length >= 1, 3000, 'the queued message')
  // After it, the other one is gone: no session, no queued message.
  await sleep(2000)
  const gone = await connectWithAck(t, url, { protocolVersion: 4, clientId: 'legacy-bounded', clean: false })
  assert.equal(gone.connack.sessionPresent, false, '3.1.1 persistent session expired after limits.maxSessionExpirySeconds')
  await sleep(200)
  assert.deepEqual(gone.got, [])
}

test('embedded: a 3.1.1 persistent session expires after limits.maxSessionExpirySeconds', async (t) => {
  await legacySessionExpires(t, {})
})

test('cluster mode: a 3.1.1 persistent session expires after limits.maxSessionExpirySeconds', async (t) => {
  const redis = await startRedis(t)
  await legacySessionExpires(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32) })
})

test('MQTT 5: "never" (0xFFFFFFFF) is answered with the default bound, 7 days, in CONNACK', async (t) => {
  const { url } = await startTestNode(t)
  const { connack } = await connectWithAck(t, url, { protocolVersion: 5, clientId: 'forever', clean: false, properties: { sessionExpiryInterval: 0xFFFFFFFF } })
  assert.equal(connack.properties?.sessionExpiryInterval, 7 * 24 * 3600)
})
