import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Sealer } from '../../src/auth/sealing.js'
import { newSigningKey, privateKeyObject } from '../../src/auth/signing-keys.js'
import { loadConfig } from '../../src/config/load.js'
import { isStarlingError } from '../../src/errors.js'

const SECRET = 'correct horse battery staple, thirty-two+ chars'

test('a stored signing key does not contain its private key, and opens only with the same secret and binding', () => {
  const sealer = new Sealer(SECRET)
  const key = newSigningKey(sealer, 'BROKER1')
  const privateKey = privateKeyObject(sealer, 'BROKER1', key)
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  const seed = der.subarray(der.length - 32)
  const blob = Buffer.from(key.sealed, 'base64url')
  const stored = Buffer.from(JSON.stringify(key))
  for (const form of [seed, Buffer.from(seed.toString('base64url')), Buffer.from(seed.toString('hex')), Buffer.from(seed.toString('base64'))]) {
    assert.equal(blob.indexOf(form), -1, 'the raw seed is not in the sealed blob')
    assert.equal(stored.indexOf(form), -1, 'no encoding of the seed is in the stored record')
  }
  assert.equal(privateKeyObject(new Sealer(SECRET), 'BROKER1', key).export({ format: 'der', type: 'pkcs8' }).equals(der), true)

  assert.throws(() => privateKeyObject(new Sealer('another secret of at least thirty-two chars'), 'BROKER1', key),
    (err) => isStarlingError(err, 'STARLING_ERR_SECRET_KEY_MISMATCH') && /auth.secretKey is not the key it was encrypted with/.test(err.message) && !err.message.includes(key.sealed))
  assert.throws(() => privateKeyObject(sealer, 'BROKER2', key), (err) => isStarlingError(err, 'STARLING_ERR_SECRET_KEY_MISMATCH'), 'a blob copied to another broker does not open')
  const tampered = Buffer.from(key.sealed, 'base64url')
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
  assert.throws(() => privateKeyObject(sealer, 'BROKER1', { ...key, sealed: tampered.toString('base64url') }), (err) => isStarlingError(err, 'STARLING_ERR_SECRET_KEY_MISMATCH'))
})

test('auth.secretKey comes from STARLING_AUTH_SECRET_KEY or its alias STARLING_SECRET_KEY, and is at least 32 characters', () => {
  assert.equal(loadConfig({ env: { STARLING_SECRET_KEY: SECRET } }).auth.secretKey, SECRET)
  assert.equal(loadConfig({ env: { STARLING_AUTH_SECRET_KEY: SECRET, STARLING_SECRET_KEY: 'ignored-ignored-ignored-ignored-ignored' } }).auth.secretKey, SECRET)
  assert.throws(() => loadConfig({ env: { STARLING_SECRET_KEY: 'short' } }), (err) => isStarlingError(err, 'STARLING_ERR_CONFIG_INVALID') && /auth.secretKey/.test(err.message) && !err.message.includes('short'))
  const defaults = loadConfig()
  assert.equal(defaults.dataDir, './data')
  assert.equal(defaults.tenancy.domain, 'localhost')
  assert.equal(defaults.auth.defaultBrokerAuthType, 'auto')
  assert.equal(defaults.auth.revocationsMax, 100000)
})
