import { randomFillSync } from 'node:crypto'

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
  // 80 random bits → 16 characters of 5 bits each (two 40-bit halves: plain numbers, no BigInt).
  const at = take(10)
  let random = ''
  for (const half of [at, at + 5]) {
    let bits = 0
    for (let i = half; i < half + 5; i++) bits = bits * 256 + (pool[i] as number)
    let chars = ''
    for (let i = 0; i < 8; i++) {
      chars = ALPHABET[bits % 32] + chars
      bits = Math.floor(bits / 32)
    }
    random += chars
  }
  return time + random
}

/**
 * Random bytes drawn from one buffer refilled 4 KB at a time: an event id per CONNECT and
 * disconnect ($trigger events) made a randomBytes call each, a measurable part of a CONNECT.
 */
const pool = Buffer.alloc(4096)
let used = pool.length

function take (n: number): number {
  if (used + n > pool.length) {
    randomFillSync(pool)
    used = 0
  }
  const at = used
  used += n
  return at
}

export function isUlid (text: string): boolean {
  return /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(text)
}
