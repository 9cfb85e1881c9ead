import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { exportJWK, SignJWT, type JWTPayload } from 'jose'
import { isStarlingError, type ErrorCode } from '../../src/errors.js'
import { identityConfig, openIdentity, tempDataDir, testClock, TEST_SECRET } from '../helpers/identity.js'

/** The operator's identity provider: a JWKS on a real HTTP server on 127.0.0.1, counting fetches. */
interface Provider {
  readonly url: string
  fetches: number
  keys: Array<{ kid: string, privateKey: KeyObject, publicKey: KeyObject }>
  addKey (kid: string): void
  sign (claims: JWTPayload, kid?: string): Promise<string>
  close (): Promise<void>
}

const ISSUER = 'https://idp.example.test/'
const AUDIENCE = 'mqtt-devices'

async function startProvider (t: TestContext): Promise<Provider> {
  let server: Server | undefined
  const provider: Provider = {
    url: '',
    fetches: 0,
    keys: [],
    addKey (kid) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      provider.keys.push({ kid, privateKey, publicKey })
    },
    async sign (claims, kid = provider.keys[0]?.kid) {
      const key = provider.keys.find((k) => k.kid === kid)
      if (key === undefined) throw new Error('no such key')
      return await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().sign(key.privateKey)
    },
    close: () => new Promise<void>((resolve) => { server?.closeAllConnections(); server?.close(() => resolve()) })
  }
  server = createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') { res.writeHead(404).end(); return }
    provider.fetches++
    void Promise.all(provider.keys.map(async (k) => ({ ...await exportJWK(k.publicKey), kid: k.kid, alg: 'ES256', use: 'sig' }))).then((keys) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }))
    })
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  ;(provider as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`
  t.after(() => provider.close())
  provider.addKey('k1')
  return provider
}

async function refused (promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err) => {
    assert.ok(isStarlingError(err), String(err))
    assert.equal(err.code, code)
    return true
  })
}

test('JWKS broker: tokens of the operator\'s provider verify against its JWKS, claims map to client id and topic ACL', async (t) => {
  const provider = await startProvider(t)
  const clock = testClock()
  const identity = await openIdentity(t, identityConfig({ dataDir: tempDataDir(t), auth: { secretKey: TEST_SECRET, jwksCooldownMs: 0 } }), clock)
  await identity.tenancy.createNamespace({ name: 'acme' })
  const broker = await identity.tenancy.createBroker('acme', {
    name: 'devices',
    authType: 'JWKS',
    jwks: { url: provider.url, issuer: ISSUER, audience: AUDIENCE, clientIdClaim: 'device_id', publishClaim: 'mqtt.publish', subscribeClaim: 'mqtt.subscribe' }
  })
  const tokens = identity.tokens
  const token = await provider.sign({ sub: 'user-1', device_id: 'dev-42', jti: 'j-1', mqtt: { publish: ['devices/dev-42/#'], subscribe: ['devices/dev-42/commands'] } })
  assert.deepEqual(await tokens.verify(broker, token), {
    clientId: 'dev-42', jti: 'j-1', expiresAt: undefined, topicAcl: { publish: ['devices/dev-42/#'], subscribe: ['devices/dev-42/commands'] }
  })
  assert.equal(provider.fetches, 1)
  await tokens.verify(broker, token)
  assert.equal(provider.fetches, 1, 'the key set is cached')

  // A new key at the provider: the unknown kid makes Starling fetch the JWKS again.
  provider.addKey('k2')
  await tokens.verify(broker, await provider.sign({ device_id: 'dev-43' }, 'k2'))
  assert.equal(provider.fetches, 2)

  // Refusals.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const wrongAudience = await new SignJWT({ device_id: 'd' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience('another-app').sign(provider.keys[0]?.privateKey as KeyObject)
  await refused(tokens.verify(broker, wrongAudience), 'STARLING_ERR_TOKEN_WRONG_BROKER')
  const wrongIssuer = await new SignJWT({ device_id: 'd' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://evil.test/').setAudience(AUDIENCE).sign(provider.keys[0]?.privateKey as KeyObject)
  await refused(tokens.verify(broker, wrongIssuer), 'STARLING_ERR_TOKEN_INVALID')
  const badSignature = await new SignJWT({ device_id: 'd' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience(AUDIENCE).sign(other.privateKey)
  await refused(tokens.verify(broker, badSignature), 'STARLING_ERR_TOKEN_INVALID')
  const unknownKid = await new SignJWT({ device_id: 'd' }).setProtectedHeader({ alg: 'ES256', kid: 'nope' }).setIssuer(ISSUER).setAudience(AUDIENCE).sign(other.privateKey)
  await refused(tokens.verify(broker, unknownKid), 'STARLING_ERR_TOKEN_INVALID')
  await refused(tokens.verify(broker, await provider.sign({ sub: 'no-device-id' })), 'STARLING_ERR_TOKEN_INVALID')
  await refused(tokens.verify(broker, await provider.sign({ device_id: 'd', mqtt: { publish: ['a/#/b'] } })), 'STARLING_ERR_TOKEN_INVALID')
  const expiring = await provider.sign({ device_id: 'd', exp: Math.floor(clock.now / 1000) + 10 })
  await tokens.verify(broker, expiring)
  clock.now += 20_000
  await refused(tokens.verify(broker, expiring), 'STARLING_ERR_TOKEN_EXPIRED')
  const future = await provider.sign({ device_id: 'd', nbf: Math.floor(clock.now / 1000) + 60 })
  await refused(tokens.verify(broker, future), 'STARLING_ERR_TOKEN_NOT_YET_VALID')

  // Revoking a provider token's jti refuses it here.
  await tokens.revoke(broker, ['j-1'])
  await refused(tokens.verify(broker, token), 'STARLING_ERR_TOKEN_REVOKED')
  // Starling does not issue tokens for a JWKS broker.
  await refused(tokens.issue(broker, { number: 1 }), 'STARLING_ERR_TENANCY_INVALID')

  // The provider unreachable: refused as server unavailable, not as the client's fault.
  await provider.close()
  await identity.tenancy.updateBroker('acme', 'devices', { jwks: { ...broker.jwks!, url: provider.url.replace('jwks.json', 'gone.json') } })
  const moved = identity.tenancy.findBroker('acme', 'devices')!
  await assert.rejects(tokens.verify(moved, token), (err) => isStarlingError(err, 'STARLING_ERR_JWKS_UNAVAILABLE') && err.reasonCode === 0x88 && err.returnCode === 3)
})
