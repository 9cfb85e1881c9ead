import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { StoredKey } from '../tenancy/stored.js'
import { ulid } from '../tenancy/ulid.js'
import type { Sealer } from './sealing.js'

/**
 * Brokers' Ed25519 signing keys: made here, stored sealed (src/auth/sealing.ts), opened only to
 * sign. The `kid` is a ULID, so keys sort by age.
 */

function boundTo (brokerId: string, kid: string): string {
  return `${brokerId}/${kid}`
}

export function newSigningKey (sealer: Sealer, brokerId: string, now: Date = new Date()): StoredKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const kid = ulid(now.getTime())
  const jwk = publicKey.export({ format: 'jwk' })
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' })
  try {
    return { kid, x: jwk.x as string, sealed: sealer.seal(pkcs8, boundTo(brokerId, kid)), created_on: now.toISOString() }
  } finally {
    pkcs8.fill(0)
  }
}

export function publicKeyObject (key: StoredKey): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' })
}

export function privateKeyObject (sealer: Sealer, brokerId: string, key: StoredKey): KeyObject {
  const der = sealer.open(key.sealed, boundTo(brokerId, key.kid), `signing key ${key.kid} of broker ${brokerId}`)
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } finally {
    der.fill(0)
  }
}

/** The key as a public JWK, as `GET .../publickeys` serves it. */
export function publicJwk (key: StoredKey): Record<string, string> {
  return { kty: 'OKP', crv: 'Ed25519', x: key.x, kid: key.kid, alg: 'EdDSA', use: 'sig' }
}

/** Makes sealed keys for new brokers and rotations (what the tenancy store needs of the sealer). */
export interface SigningKeyFactory {
  create (brokerId: string, now: Date): StoredKey
}

export function signingKeyFactory (sealer: Sealer): SigningKeyFactory {
  return { create: (brokerId, now) => newSigningKey(sealer, brokerId, now) }
}
