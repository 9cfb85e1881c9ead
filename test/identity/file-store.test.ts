import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { decodeJwt } from 'jose'
import { Sealer } from '../../src/auth/sealing.js'
import { privateKeyObject } from '../../src/auth/signing-keys.js'
import { isStarlingError } from '../../src/errors.js'
import type { StoredBroker } from '../../src/tenancy/stored.js'
import type { TenancyChange } from '../../src/tenancy/types.js'
import { identityConfig, openIdentity, tempDataDir, TEST_SECRET } from '../helpers/identity.js'

function mode (path: string): number {
  return statSync(path).mode & 0o777
}

test('embedded: a fresh data dir gets a generated secret, the default namespace and an anonymous default broker, all private to the owner', async (t) => {
  const dataDir = join(tempDataDir(t), 'nested', 'data')
  const identity = await openIdentity(t, identityConfig({ dataDir }))
  assert.equal(mode(dataDir), 0o700)
  assert.equal(mode(join(dataDir, 'secret.key')), 0o600)
  assert.equal(mode(join(dataDir, 'tenancy.json')), 0o600)
  assert.ok(readFileSync(join(dataDir, 'secret.key'), 'utf8').trim().length >= 32)
  assert.deepEqual((await identity.tenancy.listNamespaces()).map((n) => n.name), ['default'])
  const broker = identity.tenancy.findBroker('default', 'default')
  assert.equal(broker?.authType, 'NONE', 'auto: NONE in embedded mode (the quick start)')
  assert.equal(broker?.endpoint, 'mqtts://default.default.localhost:8883')
  assert.match(broker?.publicKey ?? '', /^[0-9a-f]{64}$/)
})

test('embedded: namespaces and brokers: unique names, validation naming the field, not-empty delete, change notifications', async (t) => {
  const identity = await openIdentity(t, identityConfig({ dataDir: tempDataDir(t), auth: { secretKey: TEST_SECRET }, tenancy: { domain: 'pubsub.example.com' } }))
  const store = identity.tenancy
  const changes: TenancyChange[] = []
  store.onChange((change) => changes.push(change))

  const ns = await store.createNamespace({ name: 'my-namespace', description: 'staging' })
  assert.equal(ns.name, 'my-namespace')
  assert.equal(ns.description, 'staging')
  assert.equal(ns.created_on, ns.modified_on)
  await assert.rejects(store.createNamespace({ name: 'my-namespace' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS'))
  await assert.rejects(store.createNamespace({ name: 'My_Namespace' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_INVALID') && err.message.startsWith('name:'))
  await assert.rejects(store.getNamespace('nope'), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_NOT_FOUND'))

  const broker = await store.createBroker('my-namespace', { name: 'example-broker', quotas: { maxConnections: 10 } })
  assert.equal(broker.authType, 'TOKEN', 'TOKEN unless told otherwise')
  assert.equal(broker.namespace, 'my-namespace')
  assert.equal(broker.endpoint, 'mqtts://example-broker.my-namespace.pubsub.example.com:8883')
  assert.deepEqual(broker.quotas, { maxConnections: 10, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 0 })
  assert.equal(broker.tokenExpiryAction, 'disconnect')
  assert.equal((broker as unknown as { keys?: unknown }).keys, undefined, 'records carry no key material')
  await assert.rejects(store.createBroker('my-namespace', { name: 'example-broker' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS'))
  await assert.rejects(store.createBroker('nope', { name: 'example-broker' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_NOT_FOUND'))
  await assert.rejects(store.createBroker('my-namespace', { name: 'b', authType: 'JWKS' }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_INVALID') && err.message.startsWith('jwks:'))
  await assert.rejects(store.createBroker('my-namespace', { name: 'b', authType: 'OPEN' as never }), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_INVALID') && err.message.startsWith('authType:'))
  await store.createNamespace({ name: 'other' })
  await store.createBroker('other', { name: 'example-broker' })

  const updated = await store.updateBroker('my-namespace', 'example-broker', { description: 'd', quotas: { maxRetained: 5 }, tokenExpiryAction: 'keep' })
  assert.equal(updated.id, broker.id)
  assert.deepEqual(updated.quotas, { maxConnections: 10, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 5 })
  assert.equal(updated.tokenExpiryAction, 'keep')
  assert.equal(store.findBroker('my-namespace', 'example-broker')?.description, 'd', 'findBroker sees the update at once')
  assert.deepEqual((await store.listBrokers('my-namespace')).map((b) => b.name), ['example-broker'])

  await assert.rejects(store.deleteNamespace('my-namespace'), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_NOT_EMPTY'))
  await store.deleteBroker('my-namespace', 'example-broker')
  assert.equal(store.findBroker('my-namespace', 'example-broker'), undefined)
  await assert.rejects(store.getBroker('my-namespace', 'example-broker'), (err) => isStarlingError(err, 'STARLING_ERR_TENANCY_NOT_FOUND'))
  await store.deleteNamespace('my-namespace')
  assert.deepEqual((await store.listNamespaces()).map((n) => n.name), ['default', 'other'])
  assert.deepEqual(changes.filter((c) => c.kind === 'broker' && c.namespace === 'my-namespace').length, 3)
  assert.ok(changes.some((c) => c.kind === 'namespace' && c.name === 'my-namespace'))
})

test('embedded: a restart keeps namespaces, brokers, keys and revocations; the file holds no private key; another secret is refused at start', async (t) => {
  const dataDir = tempDataDir(t)
  const config = identityConfig({ dataDir, auth: { secretKey: TEST_SECRET } })
  const first = await openIdentity(t, config)
  await first.tenancy.createNamespace({ name: 'my-namespace' })
  const broker = await first.tenancy.createBroker('my-namespace', { name: 'example-broker' })
  const issued = await first.tokens.issue(broker, { number: 2 })
  const [kept, revoked] = Object.values(issued) as [string, string]
  await first.tokens.revoke(broker, [decodeJwt(revoked).jti as string])
  await first.close()

  const file = readFileSync(join(dataDir, 'tenancy.json'), 'utf8')
  const stored = (JSON.parse(file) as { brokers: Record<string, string> }).brokers['my-namespace/example-broker'] as string
  const key = (JSON.parse(stored) as StoredBroker).keys[0]
  assert.ok(key !== undefined)
  const der = privateKeyObject(new Sealer(TEST_SECRET), broker.id, key).export({ format: 'der', type: 'pkcs8' })
  const seed = der.subarray(der.length - 32)
  for (const form of ['base64url', 'base64', 'hex'] as const) assert.ok(!file.includes(seed.toString(form)), `no ${form} private key in the file`)

  const second = await openIdentity(t, config)
  const again = second.tenancy.findBroker('my-namespace', 'example-broker')
  assert.equal(again?.id, broker.id)
  assert.equal((await second.tokens.verify(again, kept)).clientId, decodeJwt(kept).sub)
  await assert.rejects(second.tokens.verify(again, revoked), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_REVOKED'))
  await second.close()

  await assert.rejects(openIdentity(t, identityConfig({ dataDir, auth: { secretKey: 'a different secret, also thirty-two characters' } })),
    (err) => isStarlingError(err, 'STARLING_ERR_SECRET_KEY_MISMATCH'))
})

test('embedded: an explicit auth.defaultBrokerAuthType is applied to the existing default broker', async (t) => {
  const dataDir = tempDataDir(t)
  const first = await openIdentity(t, identityConfig({ dataDir }))
  assert.equal(first.tenancy.findBroker('default', 'default')?.authType, 'NONE')
  await first.close()
  const second = await openIdentity(t, identityConfig({ dataDir, auth: { defaultBrokerAuthType: 'TOKEN' } }))
  assert.equal(second.tenancy.findBroker('default', 'default')?.authType, 'TOKEN')
})

test('embedded: hasOnPublishHooks follows the brokers with an onPublish setting (create, patch, remove, delete)', async (t) => {
  const identity = await openIdentity(t, identityConfig({ dataDir: tempDataDir(t), auth: { secretKey: TEST_SECRET } }))
  const store = identity.tenancy
  assert.equal(store.hasOnPublishHooks?.(), false, 'the default broker has no hook')
  await store.createNamespace({ name: 'hooks' })
  await store.createBroker('hooks', { name: 'a', onPublish: { url: 'http://127.0.0.1:9/hook' } })
  await store.createBroker('hooks', { name: 'b' })
  assert.equal(store.hasOnPublishHooks?.(), true)
  await store.updateBroker('hooks', 'b', { onPublish: { url: 'http://127.0.0.1:9/other' } })
  await store.updateBroker('hooks', 'a', { onPublish: null })
  assert.equal(store.hasOnPublishHooks?.(), true, 'b still has one')
  await store.updateBroker('hooks', 'b', { description: 'renamed hook keeps counting once' })
  await store.deleteBroker('hooks', 'b')
  assert.equal(store.hasOnPublishHooks?.(), false)
  await store.updateBroker('hooks', 'a', { onPublish: { url: 'http://127.0.0.1:9/again' } })
  assert.equal(store.hasOnPublishHooks?.(), true)
})
