import assert from 'node:assert/strict'
import { verify as edVerify, createPublicKey } from 'node:crypto'
import { test } from 'node:test'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { isStarlingError, type ErrorCode } from '../../src/errors.js'
import { isUlid } from '../../src/tenancy/ulid.js'
import { identityConfig, openIdentity, tempDataDir, testClock, TEST_SECRET } from '../helpers/identity.js'

async function refused (promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(isStarlingError(err), String(err))
    assert.equal(err.code, code)
    return true
  })
}

async function setUp (t: import('node:test').TestContext, extra: Record<string, unknown> = {}) {
  const clock = testClock()
  const identity = await openIdentity(t, identityConfig({ dataDir: tempDataDir(t), auth: { secretKey: TEST_SECRET, ...extra } }), clock)
  await identity.tenancy.createNamespace({ name: 'my-namespace' })
  const broker = await identity.tenancy.createBroker('my-namespace', { name: 'example-broker' })
  const other = await identity.tenancy.createBroker('my-namespace', { name: 'other-broker' })
  return { identity, tokens: identity.tokens, broker, other, clock }
}

test('issue returns { clientId: token }, 1 to 100 per call, ULID client ids, EdDSA JWTs with the documented claims', async (t) => {
  const { tokens, broker, clock } = await setUp(t)
  const issued = await tokens.issue(broker, { number: 2, expiresInSeconds: 48 * 3600, topicAcl: { publish: ['devices/+/telemetry'], subscribe: ['devices/#'] } })
  assert.equal(Object.keys(issued).length, 2)
  for (const [clientId, token] of Object.entries(issued)) {
    assert.ok(isUlid(clientId), clientId)
    const header = decodeProtectedHeader(token)
    assert.equal(header.alg, 'EdDSA')
    assert.equal(header.typ, 'JWT')
    assert.ok(typeof header.kid === 'string' && isUlid(header.kid))
    const claims = decodeJwt(token)
    assert.equal(claims.sub, clientId)
    assert.equal(claims.aud, 'example-broker.my-namespace')
    assert.equal(claims.iss, 'starling')
    assert.ok(typeof claims.jti === 'string' && isUlid(claims.jti))
    assert.equal(claims.iat, Math.floor(clock.now / 1000))
    assert.equal(claims.exp, Math.floor(clock.now / 1000) + 48 * 3600)
    assert.deepEqual(claims.acl, { publish: ['devices/+/telemetry'], subscribe: ['devices/#'] })
    const grant = await tokens.verify(broker, token)
    assert.deepEqual(grant, { clientId, jti: claims.jti, expiresAt: claims.exp, topicAcl: { publish: ['devices/+/telemetry'], subscribe: ['devices/#'] } })
  }
  const chosen = await tokens.issue(broker, { number: 1, clientId: 'sensor-7' })
  assert.deepEqual(Object.keys(chosen), ['sensor-7'])
  assert.equal(decodeJwt(chosen['sensor-7'] as string).exp, undefined, 'no expiration asked: none set')
  assert.equal(Object.keys(await tokens.issue(broker, { number: 100 })).length, 100)
  await refused(tokens.issue(broker, { number: 101 }), 'STARLING_ERR_TENANCY_INVALID')
  await refused(tokens.issue(broker, { number: 0 }), 'STARLING_ERR_TENANCY_INVALID')
  await refused(tokens.issue(broker, { number: 2, clientId: 'x' }), 'STARLING_ERR_TENANCY_INVALID')
  await refused(tokens.issue(broker, { number: 1, topicAcl: { publish: ['a/#/b'] } }), 'STARLING_ERR_TENANCY_INVALID')
  await refused(tokens.issue(broker, { number: 1, expiresInSeconds: -5 }), 'STARLING_ERR_TENANCY_INVALID')
})

test('verify refuses every bad token with the reason\'s code and MQTT codes', async (t) => {
  const { tokens, broker, other, clock } = await setUp(t)
  const [token] = Object.values(await tokens.issue(broker, { number: 1, expiresInSeconds: 60 })) as [string]
  const [head, body, signature] = token.split('.') as [string, string, string]

  // Bad signature: the same claims, the signature of another token.
  const [, , otherSignature] = (Object.values(await tokens.issue(broker, { number: 1 }))[0] as string).split('.')
  await refused(tokens.verify(broker, `${head}.${body}.${otherSignature}`), 'STARLING_ERR_TOKEN_INVALID')
  // Forged claims under a real signature.
  const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), sub: 'someone-else' })).toString('base64url')
  await refused(tokens.verify(broker, `${head}.${forged}.${signature}`), 'STARLING_ERR_TOKEN_INVALID')
  await refused(tokens.verify(broker, 'not-a-jwt'), 'STARLING_ERR_TOKEN_INVALID')
  await refused(tokens.verify(broker, ''), 'STARLING_ERR_TOKEN_INVALID')

  // Another broker's token (its own keys, its own audience).
  const [foreign] = Object.values(await tokens.issue(other, { number: 1 })) as [string]
  await assert.rejects(tokens.verify(broker, foreign), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_WRONG_BROKER') && err.reasonCode === 0x87 && err.returnCode === 5)
  assert.equal((await tokens.verify(other, foreign)).jti, decodeJwt(foreign).jti)

  // Expired: within the 5 s tolerance still accepted, beyond it refused.
  clock.now += 63_000
  await tokens.verify(broker, token)
  clock.now += 3_000
  await assert.rejects(tokens.verify(broker, token), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_EXPIRED') && err.reasonCode === 0x86 && err.returnCode === 4)

  // Not yet valid.
  const [later] = Object.values(await tokens.issue(broker, { number: 1, notBeforeSeconds: 3600, expiresInSeconds: 60 })) as [string]
  await refused(tokens.verify(broker, later), 'STARLING_ERR_TOKEN_NOT_YET_VALID')
  clock.now += 3600_000
  await tokens.verify(broker, later)

  // Revoked, and unrevoked.
  const [kept] = Object.values(await tokens.issue(broker, { number: 1 })) as [string]
  const jti = decodeJwt(kept).jti as string
  assert.equal(tokens.isRevoked(broker.id, jti), false)
  // Verified once (the pod remembers it as verified): a revocation still refuses it.
  await tokens.verify(broker, kept)
  await tokens.revoke(broker, [jti])
  assert.equal(tokens.isRevoked(broker.id, jti), true)
  await assert.rejects(tokens.verify(broker, kept), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_REVOKED') && err.reasonCode === 0x87 && err.returnCode === 5)
  assert.deepEqual((await tokens.listRevocations(broker)).map((r) => [r.jti, r.expires_on]), [[jti, null]])
  await tokens.unrevoke(broker, [jti])
  await tokens.verify(broker, kept)
  assert.deepEqual(await tokens.listRevocations(broker), [])

  // No message carries the token.
  for (const bad of [`${head}.${body}.${otherSignature}`, foreign, token]) {
    await tokens.verify(broker, bad).catch((err: Error) => assert.ok(!err.message.includes(bad) && !err.message.includes(signature)))
  }
})

test('key rotation: new tokens use the new key, old tokens verify until their key is retired; the last key stays', async (t) => {
  const { tokens, broker, identity } = await setUp(t)
  const [old] = Object.values(await tokens.issue(broker, { number: 1 })) as [string]
  const oldKid = decodeProtectedHeader(old).kid as string
  const newKid = await tokens.rotateKey(broker)
  assert.notEqual(newKid, oldKid)
  const [fresh] = Object.values(await tokens.issue(broker, { number: 1 })) as [string]
  assert.equal(decodeProtectedHeader(fresh).kid, newKid)
  const jwks = await tokens.publicKeys(broker)
  assert.deepEqual(jwks.keys.map((k) => k.kid), [oldKid, newKid])
  for (const key of jwks.keys) assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  const record = await identity.tenancy.getBroker('my-namespace', 'example-broker')
  assert.equal(record.publicKey, Buffer.from(jwks.keys[1]?.x as string, 'base64url').toString('hex'), 'publicKey is the newest key')
  await tokens.verify(record, old)
  await tokens.verify(record, fresh)

  await tokens.retireKey(record, oldKid)
  await refused(tokens.verify(record, old), 'STARLING_ERR_TOKEN_INVALID')
  await tokens.verify(record, fresh)
  await refused(tokens.retireKey(record, newKid), 'STARLING_ERR_SIGNING_KEY_LAST')
  await refused(tokens.retireKey(record, 'NOPE'), 'STARLING_ERR_TENANCY_NOT_FOUND')

  // On-publish signatures: the newest key, checkable with the record's public key.
  const data = Buffer.from('payload')
  const signature = await tokens.sign(record, data)
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(record.publicKey, 'hex').toString('base64url') }, format: 'jwk' })
  assert.ok(edVerify(null, data, publicKey, signature))
})

test('revocations last as long as their token and are bounded per broker', async (t) => {
  const { tokens, broker, clock } = await setUp(t, { revocationsMax: 3 })
  const expiring = await tokens.issue(broker, { number: 1, expiresInSeconds: 60 })
  const expiringJti = decodeJwt(Object.values(expiring)[0] as string).jti as string
  const forever = Object.values(await tokens.issue(broker, { number: 3 })).map((token) => decodeJwt(token).jti as string)
  const fired: Array<[string, readonly string[]]> = []
  tokens.onRevoke((brokerId, jtis) => fired.push([brokerId, jtis]))

  await tokens.revoke(broker, [expiringJti, forever[0] as string, forever[1] as string])
  assert.deepEqual(fired, [[broker.id, [expiringJti, forever[0], forever[1]]]])
  const listed = await tokens.listRevocations(broker)
  assert.equal(listed.find((r) => r.jti === expiringJti)?.expires_on, new Date((Math.floor(clock.now / 1000) + 60) * 1000).toISOString())
  await tokens.revoke(broker, [forever[0] as string])
  await assert.rejects(tokens.revoke(broker, [forever[2] as string]), (err) => isStarlingError(err, 'STARLING_ERR_REVOCATIONS_FULL') && /auth.revocationsMax/.test(err.message))

  // Once the expiring token has expired, its revocation is forgotten and makes room.
  clock.now += 61_000
  assert.deepEqual((await tokens.listRevocations(broker)).map((r) => r.jti).sort(), [forever[0], forever[1]].sort())
  await tokens.revoke(broker, [forever[2] as string])
  assert.equal((await tokens.listRevocations(broker)).length, 3)
})
