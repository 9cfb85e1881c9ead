import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { errors as joseErrors, SignJWT, type JWTPayload } from 'jose'
import { jwksGrant, peekTokenBroker, tokenAudience, tokenError } from '../../src/auth/claims.js'
import { isStarlingError } from '../../src/errors.js'
import type { JwksSettings } from '../../src/tenancy/types.js'

const settings: JwksSettings = { url: 'https://idp.example/jwks', issuer: 'https://idp.example/', audience: 'mqtt', clientIdClaim: 'sub' }

test('JWKS claims map to the client id and topic ACL the broker settings name', () => {
  assert.deepEqual(jwksGrant({ sub: 'dev-1', jti: 'j1', exp: 100 }, settings), { clientId: 'dev-1', jti: 'j1', expiresAt: 100, topicAcl: undefined })
  const mapped = jwksGrant(
    { sub: 'x', device_id: 'dev-2', mqtt: { pub: ['devices/dev-2/#'] }, 'mqtt.sub': 'devices/dev-2/commands cmd/+' },
    { ...settings, clientIdClaim: 'device_id', publishClaim: 'mqtt.pub', subscribeClaim: 'mqtt.sub' }
  )
  // `mqtt.pub` walks the nested object, `mqtt.sub` is a flat claim (space-separated, as OAuth scopes).
  assert.deepEqual(mapped, { clientId: 'dev-2', jti: undefined, expiresAt: undefined, topicAcl: { publish: ['devices/dev-2/#'], subscribe: ['devices/dev-2/commands', 'cmd/+'] } })
  assert.throws(() => jwksGrant({ sub: 7 } as unknown as JWTPayload, settings), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_INVALID'))
  assert.throws(() => jwksGrant({ sub: 'a', perms: ['a/#/b'] }, { ...settings, publishClaim: 'perms' }), (err) => isStarlingError(err, 'STARLING_ERR_TOKEN_INVALID') && err.reasonCode === 0x86 && err.returnCode === 4)
})

test('a token names its broker in its audience, readable before verification', async () => {
  const { privateKey } = generateKeyPairSync('ed25519')
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('starling').setAudience(tokenAudience('my-namespace', 'example-broker')).setSubject('c').sign(privateKey)
  assert.deepEqual(peekTokenBroker(token), { namespace: 'my-namespace', broker: 'example-broker' })
  const foreign = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('https://idp.example/').setAudience('mqtt').sign(privateKey)
  assert.equal(peekTokenBroker(foreign), undefined)
  assert.equal(peekTokenBroker('not a token'), undefined)
})

test('jose failures become refusals with the MQTT codes of their reason', () => {
  const cases: Array<[unknown, string, number, number]> = [
    [new joseErrors.JWTExpired('x', {}), 'STARLING_ERR_TOKEN_EXPIRED', 0x86, 4],
    [new joseErrors.JWTClaimValidationFailed('x', {}, 'nbf'), 'STARLING_ERR_TOKEN_NOT_YET_VALID', 0x86, 4],
    [new joseErrors.JWTClaimValidationFailed('x', {}, 'aud'), 'STARLING_ERR_TOKEN_WRONG_BROKER', 0x87, 5],
    [new joseErrors.JWTClaimValidationFailed('x', {}, 'iss'), 'STARLING_ERR_TOKEN_INVALID', 0x86, 4],
    [new joseErrors.JWSSignatureVerificationFailed(), 'STARLING_ERR_TOKEN_INVALID', 0x86, 4],
    [new joseErrors.JWSInvalid('x'), 'STARLING_ERR_TOKEN_INVALID', 0x86, 4]
  ]
  for (const [err, code, reasonCode, returnCode] of cases) {
    const mapped = tokenError(err)
    assert.equal(mapped.code, code)
    assert.equal(mapped.reasonCode, reasonCode)
    assert.equal(mapped.returnCode, returnCode)
  }
})
