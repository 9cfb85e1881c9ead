import { isValidFilter } from '../broker/topics.js'
import { StarlingError } from '../errors.js'
import type { AuthType, BrokerQuotas, JwksSettings, OnPublishSettings, TokenExpiryAction, TopicAclClaims } from './types.js'

/**
 * Checks of everything an operator sends (names, broker settings, token options). Each failure
 * is STARLING_ERR_TENANCY_INVALID naming the field, so the API can answer 400 with it.
 */

function invalid (field: string, problem: string): StarlingError {
  return new StarlingError('STARLING_ERR_TENANCY_INVALID', [field, problem])
}

/**
 * RFC 1035 §2.3.1 label, as Cloudflare Pub/Sub names namespaces and brokers: 1–63 characters,
 * lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen. Names
 * are case-insensitive there; here uppercase is refused rather than folded, so a name is
 * stored and shown exactly as it appears in the endpoint.
 */
export function nameProblem (name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string'
  if (name.length < 1 || name.length > 63) return 'must be 1 to 63 characters'
  if (!/^[a-z]/.test(name)) return 'must start with a lowercase letter'
  if (!/^[a-z0-9-]+$/.test(name)) return 'may contain only lowercase letters, digits and hyphens'
  if (name.endsWith('-')) return 'must not end with a hyphen'
  return undefined
}

export function checkName (field: string, name: unknown): string {
  const problem = nameProblem(name)
  if (problem !== undefined) throw invalid(field, problem)
  return name as string
}

export function checkDescription (field: string, value: unknown): string {
  if (value === undefined) return ''
  if (typeof value !== 'string') throw invalid(field, 'must be a string')
  if (value.length > 1024) throw invalid(field, 'must be at most 1024 characters')
  return value
}

const AUTH_TYPES: readonly AuthType[] = ['TOKEN', 'JWKS', 'NONE']

export function checkAuthType (value: unknown): AuthType {
  if (!AUTH_TYPES.includes(value as AuthType)) throw invalid('authType', `must be one of ${AUTH_TYPES.join(', ')}`)
  return value as AuthType
}

export function checkExpiryAction (value: unknown): TokenExpiryAction {
  if (value !== 'disconnect' && value !== 'keep') throw invalid('tokenExpiryAction', 'must be disconnect or keep')
  return value
}

export const DEFAULT_QUOTAS: BrokerQuotas = { maxConnections: 0, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 0 }

export function checkQuotas (value: unknown, base: BrokerQuotas = DEFAULT_QUOTAS): BrokerQuotas {
  if (value === undefined) return base
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('quotas', 'must be an object')
  const out: Record<string, number> = { ...base }
  for (const [key, n] of Object.entries(value)) {
    if (!(key in DEFAULT_QUOTAS)) throw invalid(`quotas.${key}`, 'unknown quota')
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw invalid(`quotas.${key}`, 'must be a whole number ≥ 0 (0: no limit)')
    out[key] = n as number
  }
  return out as unknown as BrokerQuotas
}

function checkClaimName (field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_:.\-/]{1,128}$/.test(value)) throw invalid(field, 'must be a claim name (letters, digits, _ : . - /)')
  return value
}

export function checkJwks (value: unknown): JwksSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('jwks', 'must be an object with url, issuer and audience')
  const v = value as Record<string, unknown>
  for (const key of Object.keys(v)) {
    if (!['url', 'issuer', 'audience', 'clientIdClaim', 'publishClaim', 'subscribeClaim'].includes(key)) throw invalid(`jwks.${key}`, 'unknown setting')
  }
  let url: URL
  try {
    url = new URL(String(v.url))
  } catch {
    throw invalid('jwks.url', 'must be an http(s) URL')
  }
  if (typeof v.url !== 'string' || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw invalid('jwks.url', 'must be an http(s) URL')
  if (typeof v.issuer !== 'string' || v.issuer === '') throw invalid('jwks.issuer', 'must be the identity provider\'s issuer (`iss`)')
  if (typeof v.audience !== 'string' || v.audience === '') throw invalid('jwks.audience', 'must be the audience (`aud`) its tokens carry for this broker')
  return {
    url: v.url,
    issuer: v.issuer,
    audience: v.audience,
    clientIdClaim: v.clientIdClaim === undefined ? 'sub' : checkClaimName('jwks.clientIdClaim', v.clientIdClaim),
    ...(v.publishClaim !== undefined ? { publishClaim: checkClaimName('jwks.publishClaim', v.publishClaim) } : {}),
    ...(v.subscribeClaim !== undefined ? { subscribeClaim: checkClaimName('jwks.subscribeClaim', v.subscribeClaim) } : {})
  }
}

const ON_PUBLISH_KEYS = ['url', 'filter', 'failurePolicy', 'timeoutMs', 'batchSize', 'lingerMs', 'concurrency'] as const
/** Bounds of the on-publish tuning settings: [min, max]. */
export const ON_PUBLISH_LIMITS = { timeoutMs: [1, 60_000], batchSize: [1, 1000], lingerMs: [0, 1000], concurrency: [1, 256] } as const

/** A broker's on-publish hook settings (src/hooks); the tuning ones are optional (config `hooks.*`). */
export function checkOnPublish (value: unknown): OnPublishSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('onPublish', 'must be an object with url')
  const v = value as Record<string, unknown>
  for (const key of Object.keys(v)) {
    if (!(ON_PUBLISH_KEYS as readonly string[]).includes(key)) throw invalid(`onPublish.${key}`, 'unknown setting')
  }
  let url: URL
  try {
    url = new URL(String(v.url))
  } catch {
    throw invalid('onPublish.url', 'must be an http(s) URL')
  }
  if (typeof v.url !== 'string' || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw invalid('onPublish.url', 'must be an http(s) URL')
  if (v.failurePolicy !== undefined && v.failurePolicy !== 'drop' && v.failurePolicy !== 'deliver') throw invalid('onPublish.failurePolicy', 'must be drop or deliver')
  const tuning: Record<string, number> = {}
  for (const [key, [min, max]] of Object.entries(ON_PUBLISH_LIMITS)) {
    const n = v[key]
    if (n === undefined) continue
    if (!Number.isSafeInteger(n) || (n as number) < min || (n as number) > max) throw invalid(`onPublish.${key}`, `must be a whole number from ${min} to ${max}`)
    tuning[key] = n as number
  }
  return {
    url: v.url,
    ...(v.filter !== undefined ? { filter: checkFilters('onPublish.filter', v.filter) } : {}),
    failurePolicy: v.failurePolicy ?? 'drop',
    ...tuning
  }
}

/** Most filters one token's ACL may list per action, and their longest length. */
export const MAX_ACL_FILTERS = 100
const MAX_FILTER_LENGTH = 1024

/** A list of MQTT topic filters [MQTT-4.7.1-1..3] (topic names are filters too). */
export function checkFilters (field: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid(field, 'must be a list of topic filters')
  if (value.length > MAX_ACL_FILTERS) throw invalid(field, `at most ${MAX_ACL_FILTERS} filters`)
  for (const [i, filter] of value.entries()) {
    if (typeof filter !== 'string' || filter.length > MAX_FILTER_LENGTH || !isValidFilter(filter)) {
      throw invalid(`${field}[${i}]`, 'must be a valid MQTT topic filter')
    }
  }
  return value as string[]
}

export function checkTopicAcl (field: string, value: unknown): TopicAclClaims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'must be an object { publish?, subscribe? }')
  const v = value as Record<string, unknown>
  for (const key of Object.keys(v)) if (key !== 'publish' && key !== 'subscribe') throw invalid(`${field}.${key}`, 'unknown action')
  return {
    ...(v.publish !== undefined ? { publish: checkFilters(`${field}.publish`, v.publish) } : {}),
    ...(v.subscribe !== undefined ? { subscribe: checkFilters(`${field}.subscribe`, v.subscribe) } : {})
  }
}

/**
 * A client id a token may bind: 1–256 characters, no control characters. MQTT allows any UTF-8
 * string [MQTT-3.1.3-5]; the bound keeps ids printable and usable in logs and the API.
 */
export function checkClientId (field: string, value: unknown): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length < 1 || value.length > 256 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw invalid(field, 'must be 1 to 256 characters without control characters')
  }
  return value
}

export function checkJtis (value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > 1000) throw invalid('jti', 'must be 1 to 1000 token ids')
  for (const [i, jti] of value.entries()) {
    if (typeof jti !== 'string' || jti.length < 1 || jti.length > 256) throw invalid(`jti[${i}]`, 'must be a token id of 1 to 256 characters')
  }
  return value as string[]
}
