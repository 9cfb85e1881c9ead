/**
 * A seeded pseudo-random generator (mulberry32): the same seed gives the same run, so a failure
 * is reproduced with `--seed`. Not for anything secret.
 */
export class Random {
  #state: number

  constructor (readonly seed: number) {
    this.#state = seed >>> 0
  }

  /** A float in [0, 1). */
  next (): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  chance (p: number): boolean {
    return this.next() < p
  }

  pick<T> (items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  bytes (n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) out[i] = this.int(256)
    return out
  }

  /** `ascii`: printable ASCII; `any`: any code unit (lone surrogates, U+0000 included). */
  string (n: number, alphabet: 'ascii' | 'any'): string {
    let out = ''
    for (let i = 0; i < n; i++) out += String.fromCharCode(alphabet === 'ascii' ? 0x20 + this.int(95) : this.int(0x10000))
    return out
  }
}

/** A fresh seed (32 bits) when none is given. */
export function newSeed (): number {
  return Math.floor(Math.random() * 0x100000000) >>> 0
}
