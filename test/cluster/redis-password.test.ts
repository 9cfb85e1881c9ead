import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { startRedis } from '../helpers/redis.js'

test('a pod reaches a password-protected Redis with redis.password and a URL without credentials', async (t) => {
  const redis = await startRedis(t)
  const password = 'k8s-secret-Pw:@/1'
  assert.deepEqual(await redis.cli(['CONFIG', 'SET', 'requirepass', password]), ['OK'])
  const { url, logs } = await startTestNode(t, { 'redis.url': redis.url, 'redis.password': password, 'redis.startTimeoutMs': 5000 })

  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'sub' })
  await sub.subscribeAsync('auth/t', { qos: 1 })
  const got = collect(sub)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'pub' })
  await pub.publishAsync('auth/t', 'hello', { qos: 1 })
  await waitFor(() => got.length === 1)
  assert.equal(got[0]?.payload.toString(), 'hello')
  assert.ok(!JSON.stringify(logs.lines).includes(password), 'the password is never logged')
})
