import type { VerifiedToken } from '../tenancy/types.js'
import { setNewest } from '../util/bounded-map.js'

/**
 * Tokens whose signature and claims this pod has verified, so a client that reconnects with the
 * same token (a flapping link, a keep-alive timeout, a reconnect storm) skips the Ed25519 check,
 * the largest part of a token CONNECT's cost. Keyed by the whole token string, signature
 * included: a different signature is a different entry. What can change for the same string is
 * re-checked on every hit: the broker (its id and audience), that the signing key is still
 * active, and the time claims (`exp`, `nbf`); revocation is checked outside, on every CONNECT.
 * A hit that fails any of these goes through the full verification, which reports why.
 * Least recently used entries go first; at most `max` entries.
 */
export interface VerifiedEntry {
  readonly brokerId: string
  readonly audience: string
  readonly kid: string
  /** Seconds since the epoch. */
  readonly notBefore: number | undefined
  readonly grant: VerifiedToken
}

export class VerifiedTokenCache {
  readonly #entries = new Map<string, VerifiedEntry>()

  constructor (readonly max: number) {}

  get size (): number { return this.#entries.size }

  /**
   * The entry of a token verified before, when it still holds for this broker, its active keys
   * and the time `nowMs` (with `toleranceSeconds`, as jose applies it); undefined otherwise.
   */
  get (token: string, brokerId: string, audience: string, activeKid: (kid: string) => boolean, nowMs: number, toleranceSeconds: number): VerifiedToken | undefined {
    const entry = this.#entries.get(token)
    if (entry === undefined) return undefined
    const now = Math.floor(nowMs / 1000)
    const exp = entry.grant.expiresAt
    if (entry.brokerId !== brokerId || entry.audience !== audience || !activeKid(entry.kid) ||
      (exp !== undefined && exp <= now - toleranceSeconds) ||
      (entry.notBefore !== undefined && entry.notBefore > now + toleranceSeconds)) {
      this.#entries.delete(token)
      return undefined
    }
    // Most recently used last: Map keeps insertion order.
    this.#entries.delete(token)
    this.#entries.set(token, entry)
    return entry.grant
  }

  set (token: string, entry: VerifiedEntry): void {
    if (this.max <= 0) return
    setNewest(this.#entries, token, entry, this.max)
  }

  /** Forgets every entry of a broker (a key retired, the broker gone). */
  forgetBroker (brokerId: string): void {
    for (const [token, entry] of this.#entries) if (entry.brokerId === brokerId) this.#entries.delete(token)
  }
}
