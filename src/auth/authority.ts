import type { KeyObject } from 'node:crypto'
import { sign as edSign } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload, type ProtectedHeaderParameters } from 'jose'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { IdentityBackend, IdentityEvent } from '../tenancy/backend.js'
import { newestKey, type StoredBroker, type StoredKey } from '../tenancy/stored.js'
import type { CachedTenancyStore } from '../tenancy/store.js'
import type { BrokerRecord, IssueOptions, RevocationRecord, TokenAuthority, VerifiedToken } from '../tenancy/types.js'
import { isUlid, ulid } from '../tenancy/ulid.js'
import { checkClientId, checkJtis, checkTopicAcl } from '../tenancy/validate.js'
import { ACL_CLAIM, starlingGrant, TOKEN_ISSUER, tokenAudience, tokenError } from './claims.js'
import { JwksVerifier } from './jwks.js'
import { RevocationSet } from './revocations.js'
import type { Sealer } from './sealing.js'
import { VerifiedTokenCache } from './verified-tokens.js'
import { privateKeyObject, publicJwk, publicKeyObject, type SigningKeyFactory } from './signing-keys.js'

/**
 * The TokenAuthority: brokers' Ed25519 keys (several active, the newest signs), token issue
 * and verification with jose, revocations kept in storage and mirrored in every pod's
 * RevocationSet within a second. Never logs a token or a key.
 */

export const MAX_CREDENTIALS_PER_CALL = 100
/** Tokens a pod remembers as verified (about 1 KB each): a reconnect with one of them skips the signature check. */
export const VERIFIED_TOKENS_MAX = 10_000
/** Longest token lifetime and start delay accepted: ten years. */
const MAX_SECONDS = 10 * 365 * 24 * 3600

export interface AuthorityOptions {
  readonly store: CachedTenancyStore
  readonly backend: IdentityBackend
  readonly sealer: Sealer
  readonly keys: SigningKeyFactory
  readonly logger: Logger
  readonly origin: string
  readonly revocationsMax: number
  readonly clockToleranceSeconds: number
  readonly jwks: { readonly cooldownMs: number, readonly cacheMaxAgeMs: number, readonly timeoutMs: number }
  /** Milliseconds since the epoch (tests move it). */
  readonly clock?: () => number
}

function invalidOption (field: string, problem: string): StarlingError {
  return new StarlingError('STARLING_ERR_TENANCY_INVALID', [field, problem])
}

function seconds (field: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_SECONDS) throw invalidOption(field, `must be a whole number of seconds from 1 to ${MAX_SECONDS}`)
  return value
}

export class StarlingTokenAuthority implements TokenAuthority {
  readonly #o: AuthorityOptions
  readonly #clock: () => number
  readonly #revoked = new RevocationSet()
  readonly #jwks: JwksVerifier
  readonly #publicKeys = new Map<string, KeyObject>()
  readonly #privateKeys = new Map<string, KeyObject>()
  readonly #verified = new VerifiedTokenCache(VERIFIED_TOKENS_MAX)
  readonly #listeners = new Set<(brokerId: string, jtis: readonly string[]) => void>()
  /** Revocation changes seen per broker (notifications and this pod's own), to order them against reloads. */
  readonly #changes = new Map<string, number>()
  #closed = false

  private constructor (options: AuthorityOptions) {
    this.#o = options
    this.#clock = options.clock ?? Date.now
    this.#jwks = new JwksVerifier({ ...options.jwks, clockToleranceSeconds: options.clockToleranceSeconds, clock: this.#clock })
  }

  static async open (options: AuthorityOptions): Promise<StarlingTokenAuthority> {
    const authority = new StarlingTokenAuthority(options)
    options.backend.onEvent((event) => { authority.#onEvent(event) })
    options.store.onReload(() => { void authority.#reloadRevocations().catch((err: Error) => options.logger.warn({ err: err.message }, 'revocations: reload failed')) })
    await authority.#reloadRevocations()
    return authority
  }

  async #reloadRevocations (): Promise<void> {
    const brokers = this.#o.store.cachedBrokers()
    const now = this.#clock()
    await Promise.all(brokers.map(async (broker) => {
      const started = this.#changes.get(broker.id) ?? 0
      const entries = await this.#o.backend.revocations(broker.id, now)
      // A (un)revocation that arrived while this read was under way is newer than what it read:
      // keep the set as notifications made it (the next reload heals anything missed).
      if ((this.#changes.get(broker.id) ?? 0) === started) this.#revoked.replace(broker.id, entries)
    }))
    const ids = new Set(brokers.map((b) => b.id))
    this.#revoked.retain(ids)
    this.#jwks.retain(new Set(brokers.filter((b) => b.authType === 'JWKS').map((b) => b.id)))
  }

  #changed (brokerId: string): void {
    this.#changes.set(brokerId, (this.#changes.get(brokerId) ?? 0) + 1)
  }

  #onEvent (event: IdentityEvent): void {
    if (this.#closed) return
    if (event.type === 'revoke' || event.type === 'unrevoke') this.#changed(event.brokerId)
    if (event.type === 'revoke') {
      this.#revoked.add(event.brokerId, event.entries)
      if (event.origin !== this.#o.origin) this.#fire(event.brokerId, event.entries.map((e) => e.jti))
    } else if (event.type === 'unrevoke') {
      this.#revoked.remove(event.brokerId, event.jtis)
    }
  }

  #fire (brokerId: string, jtis: readonly string[]): void {
    for (const listener of this.#listeners) {
      try {
        listener(brokerId, jtis)
      } catch (err) {
        this.#o.logger.warn({ err: (err as Error).message, brokerId }, 'revocation listener failed')
      }
    }
  }

  /** The broker's stored record with keys: the cache, or storage when the cache lags behind. */
  async #stored (broker: BrokerRecord): Promise<StoredBroker> {
    const cached = this.#o.store.cachedBrokerById(broker.id)
    if (cached !== undefined) return cached
    const fresh = await this.#o.store.readStoredBroker(broker.namespace, broker.name)
    if (fresh.stored.id !== broker.id) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`broker "${broker.name}" in namespace "${broker.namespace}"`])
    return fresh.stored
  }

  #publicKey (brokerId: string, key: StoredKey): KeyObject {
    const id = `${brokerId}/${key.kid}`
    let object = this.#publicKeys.get(id)
    if (object === undefined) { object = publicKeyObject(key); this.#publicKeys.set(id, object) }
    return object
  }

  #privateKey (brokerId: string, key: StoredKey): KeyObject {
    const id = `${brokerId}/${key.kid}`
    let object = this.#privateKeys.get(id)
    if (object === undefined) { object = privateKeyObject(this.#o.sealer, brokerId, key); this.#privateKeys.set(id, object) }
    return object
  }

  #signingKey (stored: StoredBroker): StoredKey {
    const key = newestKey(stored)
    if (key === undefined) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`signing key of broker "${stored.name}"`])
    return key
  }

  async issue (broker: BrokerRecord, options: IssueOptions): Promise<Record<string, string>> {
    const number = options?.number
    if (!Number.isSafeInteger(number) || number < 1 || number > MAX_CREDENTIALS_PER_CALL) throw invalidOption('number', `must be 1 to ${MAX_CREDENTIALS_PER_CALL}`)
    if (options.clientId !== undefined) {
      checkClientId('clientId', options.clientId)
      if (number !== 1) throw invalidOption('clientId', 'a chosen client id needs number 1')
    }
    const expiresIn = seconds('expiration', options.expiresInSeconds)
    const notBefore = seconds('notBefore', options.notBeforeSeconds)
    const acl = options.topicAcl === undefined ? undefined : checkTopicAcl('topicAcl', options.topicAcl)
    const stored = await this.#stored(broker)
    if (stored.authType === 'JWKS') throw invalidOption('type', `broker "${stored.name}" is a JWKS broker: its tokens come from its identity provider`)
    const key = this.#signingKey(stored)
    const privateKey = this.#privateKey(stored.id, key)
    const now = Math.floor(this.#clock() / 1000)
    const out: Record<string, string> = {}
    const expiring: Array<{ jti: string, expiresAt: number }> = []
    for (let i = 0; i < number; i++) {
      const clientId = options.clientId ?? ulid(this.#clock())
      const jti = ulid(this.#clock())
      const claims: JWTPayload = acl !== undefined ? { [ACL_CLAIM]: acl } : {}
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(tokenAudience(stored.namespace, stored.name))
        .setSubject(clientId)
        .setJti(jti)
        .setIssuedAt(now)
      if (notBefore !== undefined) jwt.setNotBefore(now + notBefore)
      if (expiresIn !== undefined) {
        jwt.setExpirationTime(now + (notBefore ?? 0) + expiresIn)
        expiring.push({ jti, expiresAt: (now + (notBefore ?? 0) + expiresIn) * 1000 })
      }
      out[clientId] = await jwt.sign(privateKey)
    }
    await this.#o.backend.recordIssued(stored.id, expiring)
    return out
  }

  async verify (broker: BrokerRecord, token: string): Promise<VerifiedToken> {
    if (broker.authType === 'JWKS') {
      const grant = await this.#jwks.verify(broker, token)
      if (grant.jti !== undefined && this.#revoked.has(broker.id, grant.jti, this.#clock())) throw new StarlingError('STARLING_ERR_TOKEN_REVOKED')
      return grant
    }
    const audience = tokenAudience(broker.namespace, broker.name)
    const known = this.#knownToken(broker, token, audience)
    if (known !== undefined) return known
    let header: ProtectedHeaderParameters
    let unverified: JWTPayload
    try {
      header = decodeProtectedHeader(token)
      unverified = decodeJwt(token)
    } catch (err) {
      throw new StarlingError('STARLING_ERR_TOKEN_INVALID', ['malformed'], { cause: err })
    }
    // Another broker's token says so in its audience: refuse it as such (0x87), not as a bad
    // signature, so operators see why. Either way nothing unverified is trusted further.
    const aud = unverified.aud
    if (!(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) throw new StarlingError('STARLING_ERR_TOKEN_WRONG_BROKER')
    let stored = await this.#stored(broker)
    let key = stored.keys.find((k) => k.kid === header.kid)
    if (key === undefined && typeof header.kid === 'string' && isUlid(header.kid) && header.kid > (newestKey(stored)?.kid ?? '')) {
      // A key rotated in on another pod a moment ago may not be in this pod's cache yet.
      stored = (await this.#o.store.readStoredBroker(broker.namespace, broker.name)).stored
      key = stored.id === broker.id ? stored.keys.find((k) => k.kid === header.kid) : undefined
    }
    if (key === undefined) throw new StarlingError('STARLING_ERR_TOKEN_INVALID', ['unknown or retired signing key'])
    let payload: JWTPayload
    try {
      ({ payload } = await jwtVerify(token, this.#publicKey(stored.id, key), {
        algorithms: ['EdDSA', 'Ed25519'],
        issuer: TOKEN_ISSUER,
        audience,
        clockTolerance: this.#o.clockToleranceSeconds,
        currentDate: new Date(this.#clock()),
        requiredClaims: ['sub', 'jti', 'iat']
      }))
    } catch (err) {
      throw tokenError(err)
    }
    const grant = starlingGrant(payload)
    if (grant.jti !== undefined && this.#revoked.has(stored.id, grant.jti, this.#clock())) throw new StarlingError('STARLING_ERR_TOKEN_REVOKED')
    this.#verified.set(token, { brokerId: stored.id, audience, kid: key.kid, notBefore: typeof payload.nbf === 'number' ? payload.nbf : undefined, grant })
    return grant
  }

  /**
   * A token this pod verified before, still valid now (broker, active key, time), not revoked;
   * undefined: verify it in full. Synchronous on the broker cache: a cache miss there verifies in full.
   */
  #knownToken (broker: BrokerRecord, token: string, audience: string): VerifiedToken | undefined {
    const stored = this.#o.store.cachedBrokerById(broker.id)
    if (stored === undefined) return undefined
    const now = this.#clock()
    const grant = this.#verified.get(token, stored.id, audience, (kid) => stored.keys.some((k) => k.kid === kid), now, this.#o.clockToleranceSeconds)
    if (grant === undefined) return undefined
    if (grant.jti !== undefined && this.#revoked.has(stored.id, grant.jti, now)) throw new StarlingError('STARLING_ERR_TOKEN_REVOKED')
    return grant
  }

  /** Synchronous: is this token id revoked for the broker (as this pod knows now)? */
  isRevoked (brokerId: string, jti: string): boolean {
    return this.#revoked.has(brokerId, jti, this.#clock())
  }

  async publicKeys (broker: BrokerRecord): Promise<{ keys: Array<Record<string, string>> }> {
    const stored = await this.#o.store.readStoredBroker(broker.namespace, broker.name)
    return { keys: stored.stored.keys.map(publicJwk) }
  }

  async rotateKey (broker: BrokerRecord): Promise<string> {
    const key = this.#o.keys.create(broker.id, new Date(this.#clock()))
    await this.#o.store.mutateBroker(broker.namespace, broker.name, (current) => ({ ...current, keys: [...current.keys, key] }), broker.id)
    this.#o.logger.info({ namespace: broker.namespace, broker: broker.name, kid: key.kid }, 'signing key added')
    return key.kid
  }

  async retireKey (broker: BrokerRecord, kid: string): Promise<void> {
    await this.#o.store.mutateBroker(broker.namespace, broker.name, (current) => {
      if (!current.keys.some((k) => k.kid === kid)) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`signing key "${kid}" of broker "${broker.name}"`])
      if (current.keys.length === 1) throw new StarlingError('STARLING_ERR_SIGNING_KEY_LAST', [kid, broker.name])
      return { ...current, keys: current.keys.filter((k) => k.kid !== kid) }
    }, broker.id)
    this.#privateKeys.delete(`${broker.id}/${kid}`)
    this.#publicKeys.delete(`${broker.id}/${kid}`)
    // Other pods drop its tokens on their next CONNECT (the key is checked on every hit).
    this.#verified.forgetBroker(broker.id)
    this.#o.logger.info({ namespace: broker.namespace, broker: broker.name, kid }, 'signing key retired')
  }

  async sign (broker: BrokerRecord, data: Uint8Array): Promise<Uint8Array> {
    const stored = await this.#stored(broker)
    return new Uint8Array(edSign(null, data, this.#privateKey(stored.id, this.#signingKey(stored))))
  }

  async revoke (broker: BrokerRecord, jtis: readonly string[]): Promise<void> {
    const unique = [...new Set(checkJtis(jtis))]
    const stored = await this.#stored(broker)
    const now = this.#clock()
    const result = await this.#o.backend.revoke(stored.id, unique, new Date(now).toISOString(), this.#o.revocationsMax, now)
    if (result === 'full') throw new StarlingError('STARLING_ERR_REVOCATIONS_FULL', [broker.name, this.#o.revocationsMax])
    this.#changed(stored.id)
    this.#revoked.add(stored.id, result)
    await this.#o.backend.publish({ type: 'revoke', origin: this.#o.origin, brokerId: stored.id, entries: result })
    this.#fire(stored.id, unique)
  }

  async unrevoke (broker: BrokerRecord, jtis: readonly string[]): Promise<void> {
    const unique = [...new Set(checkJtis(jtis))]
    const stored = await this.#stored(broker)
    await this.#o.backend.unrevoke(stored.id, unique)
    this.#changed(stored.id)
    this.#revoked.remove(stored.id, unique)
    await this.#o.backend.publish({ type: 'unrevoke', origin: this.#o.origin, brokerId: stored.id, jtis: unique })
  }

  async listRevocations (broker: BrokerRecord): Promise<readonly RevocationRecord[]> {
    const stored = await this.#stored(broker)
    const entries = await this.#o.backend.revocations(stored.id, this.#clock())
    return entries.map((e) => ({ jti: e.jti, revoked_on: e.revokedOn, expires_on: e.expiresAt === null ? null : new Date(e.expiresAt).toISOString() })).sort((a, b) => a.jti.localeCompare(b.jti))
  }

  onRevoke (listener: (brokerId: string, jtis: readonly string[]) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#listeners.clear()
    this.#privateKeys.clear()
  }
}
