import { randomBytes } from 'node:crypto'

/**
 * ULIDs (https://github.com/ulid/spec): 48-bit millisecond time + 80 random bits in Crockford's
 * base32, 26 characters, sortable by creation time. Ids of namespaces, brokers and token ids
 * (`jti`), and the default client ids of issued tokens, as in Cloudflare Pub/Sub's examples.
 * node:crypto is enough for this; no dependency.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

export function ulid (now: number = Date.now()): string {
  let time = ''
  let t = now
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  // 80 random bits → 16 characters of 5 bits each.
  const bytes = randomBytes(10)
  let bits = 0n
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte)
  let random = ''
  for (let i = 0; i < 16; i++) {
    random = ALPHABET[Number(bits & 31n)] + random
    bits >>= 5n
  }
  return time + random
}

export function isUlid (text: string): boolean {
  return /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(text)
}
