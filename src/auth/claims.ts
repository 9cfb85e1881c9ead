import { decodeJwt, errors as joseErrors, type JWTPayload } from 'jose'
import { StarlingError } from '../errors.js'
import type { JwksSettings, TopicAclClaims, VerifiedToken } from '../tenancy/types.js'
import { checkClientId, checkTopicAcl, checkFilters } from '../tenancy/validate.js'

/**
 * What Starling's own tokens (TOKEN brokers) carry, and how tokens of an identity provider
 * (JWKS brokers) map onto a client id and a topic ACL.
 *
 * A TOKEN broker's token: header `{ alg: 'EdDSA', kid, typ: 'JWT' }`, claims
 *   `iss`  `starling`
 *   `aud`  `<broker>.<namespace>` (the endpoint's host without the domain, so a token names its
 *          broker and a changed `tenancy.domain` does not void tokens; a broker deleted and made
 *          again has new keys, so old tokens do not verify on it)
 *   `sub`  the MQTT client id; `jti` a ULID (what is revoked); `iat`; `exp` and `nbf` if set
 *   `acl`  optional `{ publish?: [filter…], subscribe?: [filter…] }`
 */

export const TOKEN_ISSUER = 'starling'
export const ACL_CLAIM = 'acl'

export function tokenAudience (namespace: string, broker: string): string {
  return `${broker}.${namespace}`
}

/**
 * The broker a token says it is for, read without verifying it (the CONNECT path uses it to
 * pick the broker whose keys then verify the token). Undefined for a malformed token or one
 * that is not a Starling token.
 */
export function peekTokenBroker (token: string): { namespace: string, broker: string } | undefined {
  let payload: JWTPayload
  try {
    payload = decodeJwt(token)
  } catch {
    return undefined
  }
  if (payload.iss !== TOKEN_ISSUER || typeof payload.aud !== 'string') return undefined
  const dot = payload.aud.indexOf('.')
  if (dot <= 0 || dot === payload.aud.length - 1) return undefined
  return { broker: payload.aud.slice(0, dot), namespace: payload.aud.slice(dot + 1) }
}

function invalid (why: string, cause?: unknown): StarlingError {
  return new StarlingError('STARLING_ERR_TOKEN_INVALID', [why], cause !== undefined ? { cause } : undefined)
}

/** A jose verification failure as the StarlingError whose code names the reason. */
export function tokenError (err: unknown): StarlingError {
  if (err instanceof StarlingError) return err
  if (err instanceof joseErrors.JWTExpired) return new StarlingError('STARLING_ERR_TOKEN_EXPIRED', [], { cause: err })
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return new StarlingError('STARLING_ERR_TOKEN_NOT_YET_VALID', [], { cause: err })
    if (err.claim === 'aud') return new StarlingError('STARLING_ERR_TOKEN_WRONG_BROKER', [], { cause: err })
    return invalid(`claim ${err.claim} ${err.reason}`, err)
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('bad signature', err)
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalid('algorithm not allowed', err)
  if (err instanceof joseErrors.JWKSNoMatchingKey) return invalid('unknown signing key', err)
  if (err instanceof joseErrors.JOSEError) return invalid((err as { code: string }).code, err)
  return invalid('malformed', err)
}

function aclFromClaim (value: unknown): TopicAclClaims | undefined {
  if (value === undefined) return undefined
  try {
    return checkTopicAcl(ACL_CLAIM, value)
  } catch (err) {
    throw invalid('acl claim is not a valid topic ACL', err)
  }
}

/** The grant of a verified Starling token. */
export function starlingGrant (payload: JWTPayload): VerifiedToken {
  if (typeof payload.sub !== 'string') throw invalid('no client id (sub)')
  if (typeof payload.jti !== 'string') throw invalid('no token id (jti)')
  return {
    clientId: payload.sub,
    jti: payload.jti,
    expiresAt: typeof payload.exp === 'number' ? payload.exp : undefined,
    topicAcl: aclFromClaim(payload[ACL_CLAIM])
  }
}

/** A claim's value by name; a dotted name walks nested objects (`ext.mqtt.publish`) when no flat claim has it. */
export function claimValue (payload: JWTPayload, name: string): unknown {
  if (Object.hasOwn(payload, name)) return payload[name]
  let node: unknown = payload
  for (const part of name.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return undefined
    node = (node as Record<string, unknown>)[part]
  }
  return node
}

/** A list of filters from a claim: a JSON array, or a space-separated string as OAuth scopes are. */
function filtersFromClaim (field: string, value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(' ').filter((s) => s !== '') : value
  try {
    return checkFilters(field, list)
  } catch (err) {
    throw invalid(`claim ${field} is not a list of topic filters`, err)
  }
}

/** The grant of a verified identity-provider token, by the broker's JwksSettings. */
export function jwksGrant (payload: JWTPayload, settings: JwksSettings): VerifiedToken {
  const raw = claimValue(payload, settings.clientIdClaim)
  let clientId: string
  try {
    clientId = checkClientId(settings.clientIdClaim, raw)
  } catch (err) {
    throw invalid(`claim ${settings.clientIdClaim} is not a client id`, err)
  }
  const publish = settings.publishClaim !== undefined ? claimValue(payload, settings.publishClaim) : undefined
  const subscribe = settings.subscribeClaim !== undefined ? claimValue(payload, settings.subscribeClaim) : undefined
  const topicAcl: TopicAclClaims | undefined = publish === undefined && subscribe === undefined
    ? undefined
    : {
        ...(publish !== undefined ? { publish: filtersFromClaim(settings.publishClaim as string, publish) } : {}),
        ...(subscribe !== undefined ? { subscribe: filtersFromClaim(settings.subscribeClaim as string, subscribe) } : {})
      }
  return {
    clientId,
    jti: typeof payload.jti === 'string' ? payload.jti : undefined,
    expiresAt: typeof payload.exp === 'number' ? payload.exp : undefined,
    topicAcl
  }
}
