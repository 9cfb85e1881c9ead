/**
 * What the tenancy store and the token authority need from storage, implemented by Redis
 * (cluster mode, src/tenancy/redis-backend.ts) and by a file under `dataDir` (embedded,
 * src/tenancy/file-backend.ts). Documents are JSON strings: a write names the JSON it read, and
 * is refused (`conflict`) when another writer changed it meanwhile, so read-modify-write is
 * safe across pods without locks.
 */

/**
 * Issued tokens' expiries kept per broker at most (those expiring soonest are dropped first; a
 * revocation of a token no longer listed is kept forever, within auth.revocationsMax).
 */
export const ISSUED_KEPT_MAX = { cluster: 1_000_000, embedded: 100_000 } as const

export type PutResult = 'ok' | 'conflict' | 'missing-namespace' | 'not-empty'

export interface RevocationEntry {
  readonly jti: string
  /** When it was revoked (ISO 8601). */
  readonly revokedOn: string
  /** When it may be forgotten: the token's expiry (ms since the epoch); null: never. */
  readonly expiresAt: number | null
}

/** Notifications every instance on the same storage receives; `origin` names the sender. */
export type IdentityEvent =
  | { readonly type: 'namespace', readonly origin: string, readonly name: string }
  | { readonly type: 'broker', readonly origin: string, readonly namespace: string, readonly name: string }
  | { readonly type: 'revoke', readonly origin: string, readonly brokerId: string, readonly entries: ReadonlyArray<{ readonly jti: string, readonly expiresAt: number | null }> }
  | { readonly type: 'unrevoke', readonly origin: string, readonly brokerId: string, readonly jtis: readonly string[] }

export interface IdentityBackend {
  /** `cluster` (Redis) or `embedded` (file). */
  readonly kind: 'cluster' | 'embedded'
  /** Every namespace: name → JSON. */
  loadNamespaces (): Promise<Map<string, string>>
  /** Every broker: `<namespace>/<name>` → JSON. */
  loadBrokers (): Promise<Map<string, string>>
  readNamespace (name: string): Promise<string | undefined>
  readBroker (namespace: string, name: string): Promise<string | undefined>
  /**
   * Writes `next` (undefined: deletes) if the stored JSON still equals `expected` (undefined:
   * absent). Deleting is refused with `not-empty` while brokers remain in the namespace.
   */
  putNamespace (name: string, expected: string | undefined, next: string | undefined): Promise<PutResult>
  /** As putNamespace; creating is refused with `missing-namespace` when the namespace is gone. */
  putBroker (namespace: string, name: string, expected: string | undefined, next: string | undefined): Promise<PutResult>
  /** Remembers issued tokens' expiries (ms), so revoking one keeps it only as long as it lives. */
  recordIssued (brokerId: string, tokens: ReadonlyArray<{ readonly jti: string, readonly expiresAt: number }>): Promise<void>
  /**
   * Revokes `jtis` (expired entries are pruned first). Refused with `full` when the broker would
   * keep more than `max`. Returns each jti with the expiry its revocation got.
   */
  revoke (brokerId: string, jtis: readonly string[], revokedOn: string, max: number, now: number): Promise<'full' | Array<{ jti: string, expiresAt: number | null }>>
  unrevoke (brokerId: string, jtis: readonly string[]): Promise<void>
  /** The broker's revocations still in force at `now`. */
  revocations (brokerId: string, now: number): Promise<RevocationEntry[]>
  /** Forgets a deleted broker's revocations, issued tokens and devices. */
  dropBroker (brokerId: string): Promise<void>
  /** Devices of auth over MQTT (src/mqtt-auth/devices.ts): name → JSON. */
  readDevice (brokerId: string, name: string): Promise<string | undefined>
  listDevices (brokerId: string): Promise<Map<string, string>>
  /** Creates the device unless one of that name exists (false then). */
  createDevice (brokerId: string, name: string, json: string): Promise<boolean>
  /** Deletes it; false when there was none. */
  deleteDevice (brokerId: string, name: string): Promise<boolean>
  publish (event: IdentityEvent): Promise<void>
  /** Events from every instance (this one's too). */
  onEvent (listener: (event: IdentityEvent) => void): void
  /** Called when notifications may have been missed (the subscription reconnected): reload caches. */
  onResync (listener: () => void): void
  close (): Promise<void>
}
