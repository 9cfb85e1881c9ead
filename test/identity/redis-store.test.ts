import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { isStarlingError } from '../../src/errors.js'
import type { TenancyChange } from '../../src/tenancy/types.js'
import { identityConfig, openIdentity, TEST_SECRET, within } from '../helpers/identity.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'

function redisConfig (redis: TestRedis, cluster: boolean): Record<string, unknown> {
  return cluster ? { redis: { cluster: { nodes: [`127.0.0.1:${redis.port}`] } } } : { redis: { url: redis.url } }
}

async function twoPods (t: TestContext, cluster: boolean) {
  const redis = await startRedis(t, { cluster })
  const a = await openIdentity(t, identityConfig({ nodeId: 'pod-a', auth: { secretKey: TEST_SECRET }, ...redisConfig(redis, cluster) }))
  const b = await openIdentity(t, identityConfig({ nodeId: 'pod-b', auth: { secretKey: TEST_SECRET }, ...redisConfig(redis, cluster) }))
  return { redis, a, b }
}

for (const cluster of [false, true]) {
  const mode = cluster ? 'Redis Cluster' : 'Redis'
  test(`${mode}: two pods see each other's namespaces and brokers within a second`, async (t) => {
    const { redis, a, b } = await twoPods(t, cluster)
    assert.equal(b.tenancy.findBroker('default', 'default')?.authType, 'TOKEN', 'auto: TOKEN in cluster mode; created once for both pods')
    assert.equal(a.tenancy.findBroker('default', 'default')?.id, b.tenancy.findBroker('default', 'default')?.id)

    const seen: TenancyChange[] = []
    b.tenancy.onChange((change) => seen.push(change))
    await a.tenancy.createNamespace({ name: 'my-namespace' })
    const created = await a.tenancy.createBroker('my-namespace', { name: 'example-broker' })
    const ms = await within(1000, 'broker on pod b', () => b.tenancy.findBroker('my-namespace', 'example-broker')?.id === created.id)
    t.diagnostic(`findBroker on the other pod current after ${ms} ms`)
    await within(1000, 'change events on pod b', () => seen.some((c) => c.kind === 'broker' && c.name === 'example-broker'))
    assert.ok(seen.some((c) => c.kind === 'namespace' && c.name === 'my-namespace'))
    await assert.rejects(b.tenancy.createBroker('my-namespace', { name: 'example-broker' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS'))
    await assert.rejects(b.tenancy.createNamespace({ name: 'my-namespace' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS'))

    await b.tenancy.updateBroker('my-namespace', 'example-broker', { quotas: { maxConnections: 7 } })
    await within(1000, 'update on pod a', () => a.tenancy.findBroker('my-namespace', 'example-broker')?.quotas.maxConnections === 7)
    await assert.rejects(a.tenancy.deleteNamespace('my-namespace'), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_NOT_EMPTY'))
    await a.tenancy.deleteBroker('my-namespace', 'example-broker')
    await within(1000, 'delete on pod b', () => b.tenancy.findBroker('my-namespace', 'example-broker') === undefined)
    await b.tenancy.deleteNamespace('my-namespace')
    assert.deepEqual((await a.tenancy.listNamespaces()).map((n) => n.name), ['default'])

    // Every key under the versioned prefix, hash-tagged (one slot per script).
    const keys = await redis.cli(['KEYS', '*'])
    assert.ok(keys.length > 0)
    for (const key of keys) assert.match(key, /^starling:v1:\{(tenancy|rev:[0-9A-Z]{26})\}:/, key)
  })

  test(`${mode}: tokens issued on one pod verify on the other; a revocation and a rotation reach it within a second`, async (t) => {
    const { redis, a, b } = await twoPods(t, cluster)
    await a.tenancy.createNamespace({ name: 'my-namespace' })
    const broker = await a.tenancy.createBroker('my-namespace', { name: 'example-broker' })
    const [token, other] = Object.values(await a.tokens.issue(broker, { number: 2, expiresInSeconds: 3600 })) as [string, string]
    assert.equal((await b.tokens.verify(broker, token)).clientId, decodeJwt(token).sub)

    const revokedOnB: Array<[string, readonly string[]]> = []
    b.tokens.onRevoke((brokerId, jtis) => revokedOnB.push([brokerId, jtis]))
    const jti = decodeJwt(token).jti as string
    const started = Date.now()
    await a.tokens.revoke(broker, [jti])
    await within(1000, 'revocation on pod b', () => revokedOnB.length === 1)
    t.diagnostic(`onRevoke fired on the other pod after ${Date.now() - started} ms`)
    assert.deepEqual(revokedOnB, [[broker.id, [jti]]])
    await assert.rejects(b.tokens.verify(broker, token), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_REVOKED'))
    await b.tokens.verify(broker, other)
    const listed = await b.tokens.listRevocations(broker)
    assert.deepEqual(listed.map((r) => r.jti), [jti])
    assert.ok(listed[0]?.expires_on !== null, 'kept until the token would expire')
    const ttl = await redis.cli(['ZSCORE', `starling:v1:{rev:${broker.id}}:expiry`, jti])
    assert.equal(Number(ttl[0]), (decodeJwt(token).exp as number) * 1000)

    await b.tokens.unrevoke(broker, [jti])
    await within(1000, 'unrevocation on pod a', async () => { try { await a.tokens.verify(broker, token); return true } catch { return false } })

    const kid = await a.tokens.rotateKey(broker)
    const [fresh] = Object.values(await a.tokens.issue(broker, { number: 1 })) as [string]
    assert.equal(decodeProtectedHeader(fresh).kid, kid)
    await b.tokens.verify(broker, fresh)
    await b.tokens.verify(broker, other)
    await b.tokens.retireKey(broker, decodeProtectedHeader(other).kid as string)
    await within(1000, 'retired key on pod a', async () => {
      try { await a.tokens.verify(broker, other); return false } catch (err) { return isStarlingError(err, 'STARLING_ERR_TOKEN_INVALID') }
    })
    await a.tokens.verify(broker, fresh)
    assert.deepEqual((await b.tokens.publicKeys(broker)).keys.map((k) => k.kid), [kid])

    // What Redis holds cannot sign: every private key is sealed.
    const stored = await redis.cli(['HGET', 'starling:v1:{tenancy}:brokers', 'my-namespace/example-broker'])
    assert.ok(!(stored[0] ?? '').includes('PRIVATE'))
    assert.ok((stored[0] ?? '').includes('"sealed"'))
  })
}

test('two pods racing: one namespace name is taken once; concurrent key rotations both land', async (t) => {
  const { a, b } = await twoPods(t, false)
  const results = await Promise.allSettled([a.tenancy.createNamespace({ name: 'race' }), b.tenancy.createNamespace({ name: 'race' })])
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
  const lost = results.find((r) => r.status === 'rejected')
  assert.ok(lost !== undefined && isStarlingError(lost.reason, 'STARLING_ERR_TENANCY_EXISTS'))

  const broker = await a.tenancy.createBroker('race', { name: 'b1' })
  const kids = await Promise.all([a.tokens.rotateKey(broker), b.tokens.rotateKey(broker), a.tokens.rotateKey(broker)])
  const listed = (await b.tokens.publicKeys(broker)).keys.map((k) => k.kid)
  assert.equal(listed.length, 4)
  for (const kid of kids) assert.ok(listed.includes(kid), kid)
})

test('a pod whose notification connection dropped catches up on what it missed when it reconnects', async (t) => {
  const { redis, a, b } = await twoPods(t, false)
  await a.tenancy.createNamespace({ name: 'my-namespace' })
  const broker = await a.tenancy.createBroker('my-namespace', { name: 'example-broker' })
  const [token] = Object.values(await a.tokens.issue(broker, { number: 1 })) as [string]
  await within(1000, 'broker on pod b', () => b.tenancy.findBroker('my-namespace', 'example-broker') !== undefined)
  await b.tokens.verify(broker, token)
  // Both pods' subscriptions are cut; the changes below are announced while they reconnect.
  await redis.cli(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
  await a.tokens.revoke(broker, [decodeJwt(token).jti as string])
  await a.tenancy.updateBroker('my-namespace', 'example-broker', { description: 'changed while b was away' })
  await within(3000, 'revocation on pod b', async () => {
    try { await b.tokens.verify(broker, token); return false } catch (err) { return isStarlingError(err, 'STARLING_ERR_TOKEN_REVOKED') }
  })
  await within(3000, 'update on pod b', () => b.tenancy.findBroker('my-namespace', 'example-broker')?.description === 'changed while b was away')
})

test('cluster mode without auth.secretKey refuses to start with a clear error', async (t) => {
  const redis = await startRedis(t)
  await assert.rejects(openIdentity(t, identityConfig({ redis: { url: redis.url } })),
    (err) => isStarlingError(err, 'STARLING_ERR_SECRET_KEY_MISSING') && /STARLING_SECRET_KEY/.test(err.message))
})
