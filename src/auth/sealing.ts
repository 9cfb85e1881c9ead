import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { StarlingError } from '../errors.js'

/**
 * Encryption at rest of the brokers' private signing keys: AES-256-GCM under a key derived
 * from the operator's secret (`auth.secretKey`) with HKDF-SHA256, so whoever reads Redis or the
 * data directory, but not the secret, cannot mint tokens. Each blob is bound (GCM additional
 * data) to what it protects (`<broker id>/<kid>`), so a blob copied onto another broker or key
 * does not decrypt either.
 *
 * Blob: base64url of `version (1) | iv (12) | tag (16) | ciphertext`.
 */

const VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
const SALT = 'starling/signing-keys'
const INFO = 'aes-256-gcm v1'

export class Sealer {
  readonly #key: Buffer

  constructor (secret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), SALT, INFO, 32))
  }

  seal (plain: Uint8Array, boundTo: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(boundTo, 'utf8'))
    const body = Buffer.concat([cipher.update(plain), cipher.final()])
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]).toString('base64url')
  }

  /** Throws STARLING_ERR_SECRET_KEY_MISMATCH (naming `what`, never the data) when it does not decrypt. */
  open (sealed: string, boundTo: string, what: string): Buffer {
    const blob = Buffer.from(sealed, 'base64url')
    if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== VERSION) {
      throw new StarlingError('STARLING_ERR_SECRET_KEY_MISMATCH', [what])
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, blob.subarray(1, 1 + IV_BYTES))
      decipher.setAAD(Buffer.from(boundTo, 'utf8'))
      decipher.setAuthTag(blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES))
      return Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()])
    } catch (err) {
      // GCM's tag check failed: another secret, or a blob not made for this key.
      throw new StarlingError('STARLING_ERR_SECRET_KEY_MISMATCH', [what], { cause: err })
    }
  }
}
