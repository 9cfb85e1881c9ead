import { filterCovers, filterMatches } from '../broker/topics.js'
import type { TopicAclClaims } from '../tenancy/types.js'

/**
 * The topic ACL a token carries (`acl` claim, or a JWKS broker's mapped claims), as pure checks
 * so any ACL engine can intersect them with its own rules. An absent list does not limit; an
 * empty list allows nothing.
 */

/** May a client holding `acl` publish to `topic` (a topic name, never a filter)? */
export function allowsPublish (acl: TopicAclClaims | undefined, topic: string): boolean {
  const filters = acl?.publish
  if (filters === undefined) return true
  return filters.some((filter) => filterMatches(filter, topic))
}

/**
 * May a client holding `acl` subscribe to `filter`? Only when one allowed filter covers every
 * topic `filter` can match, so neither the live messages nor the retained ones it receives can
 * fall outside the token's grant. A shared subscription is checked on its inner filter by the
 * caller.
 */
export function allowsSubscribe (acl: TopicAclClaims | undefined, filter: string): boolean {
  const filters = acl?.subscribe
  if (filter === '' || filters === undefined) return filters === undefined
  return filters.some((allowed) => coversRespectingDollar(allowed, filter))
}

/**
 * `filterCovers` plus the `$` rule: a filter starting with a wildcard never matches a topic
 * starting with `$` [MQTT-4.7.2-1], so `#` granted by a token does not cover `$SYS/#`.
 */
function coversRespectingDollar (allowed: string, filter: string): boolean {
  if (filter.startsWith('$') && (allowed.startsWith('#') || allowed.startsWith('+'))) return false
  return filterCovers(allowed, filter)
}
