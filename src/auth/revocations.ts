/**
 * This pod's copy of every broker's revoked token ids, for the synchronous check on CONNECT.
 * Storage (Redis or the data file) is the truth; notifications and reloads keep this current.
 */
export class RevocationSet {
  /** broker id → jti → when the revocation may be forgotten (ms; Infinity: never). */
  readonly #byBroker = new Map<string, Map<string, number>>()

  has (brokerId: string, jti: string, now: number): boolean {
    const expiresAt = this.#byBroker.get(brokerId)?.get(jti)
    if (expiresAt === undefined) return false
    // Past it the token has expired anyway: forget the entry.
    if (expiresAt <= now) { this.#byBroker.get(brokerId)?.delete(jti); return false }
    return true
  }

  add (brokerId: string, entries: ReadonlyArray<{ readonly jti: string, readonly expiresAt: number | null }>): void {
    let jtis = this.#byBroker.get(brokerId)
    if (jtis === undefined) { jtis = new Map(); this.#byBroker.set(brokerId, jtis) }
    for (const entry of entries) jtis.set(entry.jti, entry.expiresAt ?? Infinity)
  }

  remove (brokerId: string, jtis: readonly string[]): void {
    const set = this.#byBroker.get(brokerId)
    for (const jti of jtis) set?.delete(jti)
  }

  /** Replaces one broker's entries with what storage holds. */
  replace (brokerId: string, entries: ReadonlyArray<{ readonly jti: string, readonly expiresAt: number | null }>): void {
    this.#byBroker.delete(brokerId)
    if (entries.length > 0) this.add(brokerId, entries)
  }

  /** Keeps only these brokers (the others were deleted). */
  retain (brokerIds: ReadonlySet<string>): void {
    for (const id of [...this.#byBroker.keys()]) if (!brokerIds.has(id)) this.#byBroker.delete(id)
  }
}
