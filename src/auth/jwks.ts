import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose'
import { StarlingError } from '../errors.js'
import type { BrokerRecord, JwksSettings, VerifiedToken } from '../tenancy/types.js'
import { jwksGrant, tokenError } from './claims.js'

/**
 * JWKS brokers: tokens of the operator's own identity provider, verified with jose against the
 * keys its JWKS URL serves. jose's remote key set caches the keys (`cacheMaxAgeMs`), fetches
 * again when a token names an unknown `kid`, but not more often than `cooldownMs`, and gives up
 * on a fetch after `timeoutMs`. One key set per broker and URL.
 */

/** Asymmetric algorithms only: a JWKS never holds a shared secret Starling should accept. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']

export interface JwksOptions {
  readonly cooldownMs: number
  readonly cacheMaxAgeMs: number
  readonly timeoutMs: number
  readonly clockToleranceSeconds: number
  readonly clock: () => number
}

export class JwksVerifier {
  readonly #options: JwksOptions
  readonly #sets = new Map<string, { url: string, keys: JWTVerifyGetKey }>()

  constructor (options: JwksOptions) {
    this.#options = options
  }

  #keySet (brokerId: string, settings: JwksSettings): JWTVerifyGetKey {
    const cached = this.#sets.get(brokerId)
    if (cached !== undefined && cached.url === settings.url) return cached.keys
    const keys = createRemoteJWKSet(new URL(settings.url), {
      cooldownDuration: this.#options.cooldownMs,
      cacheMaxAge: this.#options.cacheMaxAgeMs,
      timeoutDuration: this.#options.timeoutMs
    })
    this.#sets.set(brokerId, { url: settings.url, keys })
    return keys
  }

  async verify (broker: BrokerRecord, token: string): Promise<VerifiedToken> {
    const settings = broker.jwks
    if (settings === undefined) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['jwks', `broker "${broker.name}" has no JWKS settings`])
    let payload
    try {
      ({ payload } = await jwtVerify(token, this.#keySet(broker.id, settings), {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms: ALGORITHMS,
        clockTolerance: this.#options.clockToleranceSeconds,
        currentDate: new Date(this.#options.clock())
      }))
    } catch (err) {
      if (providerFault(err)) throw new StarlingError('STARLING_ERR_JWKS_UNAVAILABLE', [broker.name, describeFetchError(err)], { cause: err })
      throw tokenError(err)
    }
    return jwksGrant(payload, settings)
  }

  /** Forgets key sets of brokers no longer JWKS (or gone). */
  retain (brokerIds: ReadonlySet<string>): void {
    for (const id of [...this.#sets.keys()]) if (!brokerIds.has(id)) this.#sets.delete(id)
  }
}

/**
 * The key set could not be had: a time-out, a network error (not a jose error at all), a non-200
 * answer or a body that is not a JWKS (jose's generic error). The client is not at fault.
 */
function providerFault (err: unknown): boolean {
  if (err instanceof StarlingError) return false
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return true
  if (err instanceof joseErrors.JOSEError) return err.code === 'ERR_JOSE_GENERIC'
  return true
}

function describeFetchError (err: unknown): string {
  if (err instanceof joseErrors.JWKSTimeout) return 'timed out'
  if (err instanceof joseErrors.JWKSInvalid) return 'not a JWKS'
  const cause = (err as { cause?: { code?: string } }).cause
  return cause?.code ?? (err as Error).message ?? 'fetch failed'
}
