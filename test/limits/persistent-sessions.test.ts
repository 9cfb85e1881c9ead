import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { connectClient, connectWithAck, endClient, persistentSession, refusedCode, sleep } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

// limits.maxPersistentSessions: a CONNECT that would create one more session outliving its
// connection is refused with CONNACK 0x97 (3.1.1: return code 3); resuming one always works, a
// clean session too, and ending a session makes room (the count is re-read every second).

async function sessionsCounted (t: TestContext, overrides: Record<string, unknown>): Promise<void> {
  const { url, httpPort } = await startTestNode(t, { 'limits.maxPersistentSessions': 2, ...overrides })
  const a = await connectClient(t, url, persistentSession(5, 'ps-a'))
  const b = await connectClient(t, url, persistentSession(4, 'ps-b'))
  assert.equal(await refusedCode(url, persistentSession(5, 'ps-c')), 0x97, 'a third persistent session (v5) is refused')
  assert.equal(await refusedCode(url, persistentSession(4, 'ps-c')), 3, 'a third persistent session (3.1.1) is refused')
  // Clean sessions are not counted.
  await connectClient(t, url, { protocolVersion: 5, clientId: 'ps-clean5' })
  await connectClient(t, url, { protocolVersion: 4, clientId: 'ps-clean4', clean: true })
  // Resuming an existing session always works.
  await endClient(a)
  await endClient(b)
  const back = await connectWithAck(t, url, persistentSession(5, 'ps-a'))
  assert.equal(back.connack.sessionPresent, true)
  const backLegacy = await connectWithAck(t, url, persistentSession(4, 'ps-b'))
  assert.equal(backLegacy.connack.sessionPresent, true)
  // Ending a session (Clean Start, Session Expiry 0) makes room once the count is re-read.
  await endClient(back.client)
  const ended = await connectClient(t, url, { protocolVersion: 5, clientId: 'ps-a', clean: true })
  await endClient(ended)
  await sleep(1300)
  const c = await connectWithAck(t, url, persistentSession(5, 'ps-c'))
  assert.equal(c.connack.sessionPresent, false, 'a new session once there is room')
  assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'persistent_sessions' }), 2)
}

test('embedded: limits.maxPersistentSessions refuses a new persistent session with CONNACK 0x97 / 3', async (t) => {
  await sessionsCounted(t, {})
})

test('cluster mode: limits.maxPersistentSessions counts the session records in Redis', async (t) => {
  const redis = await startRedis(t)
  await sessionsCounted(t, { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32) })
})

test('cluster mode: the count is cluster-wide, a session made on one pod counts on another', async (t) => {
  const redis = await startRedis(t)
  const options = { 'redis.url': redis.url, 'auth.secretKey': 'k'.repeat(32), 'limits.maxPersistentSessions': 1 }
  const one = await startTestNode(t, options)
  const two = await startTestNode(t, options)
  await connectClient(t, one.url, persistentSession(5, 'cw-a'))
  await sleep(1300) // the other pod re-reads the count every second
  assert.equal(await refusedCode(two.url, persistentSession(5, 'cw-b')), 0x97)
  // The session of the first pod resumes on the second.
  const back = await connectWithAck(t, two.url, persistentSession(5, 'cw-a'))
  assert.equal(back.connack.sessionPresent, true)
})
