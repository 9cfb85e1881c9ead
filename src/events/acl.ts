import type { AclRule } from '../config/schema.js'
import { isTriggerTopic } from './names.js'

/**
 * Who may subscribe to `$trigger/...`: nobody by default. Events name every client of a broker,
 * its address and its subscriptions, so a subscription to them needs an explicit grant: an allow
 * rule (config `acl`, action subscribe or all) or a token's subscribe filter whose first level is
 * `$trigger` itself and which covers the requested filter (every topic the filter matches, the
 * grant matches too — so no delivery check is needed per event). `allow #` is no grant: `#` does
 * not match `$` topics [MQTT-4.7.2-1]. Deny rules still apply on top (the client's ordinary ACL).
 */
export function triggerGrants (rules: readonly AclRule[], tokenSubscribe?: readonly string[]): readonly string[] {
  const fromRules = rules.filter((rule) => rule.allow && rule.action !== 'publish' && isTriggerTopic(rule.topic)).map((rule) => rule.topic)
  const fromToken = (tokenSubscribe ?? []).filter(isTriggerTopic)
  return [...fromRules, ...fromToken]
}

/** Does `grant` match every topic `filter` matches? (`#` also matches its parent level [MQTT-4.7.1-2].) */
export function filterCovers (grant: string, filter: string): boolean {
  const g = grant.split('/')
  const f = filter.split('/')
  for (let i = 0; ; i++) {
    const gl = g[i]
    const fl = f[i]
    if (gl === '#') return true
    if (gl === undefined || fl === undefined) return gl === undefined && fl === undefined
    if (fl === '#') return false
    if (gl === '+') continue
    if (fl === '+' || fl !== gl) return false
  }
}

/** May a subscription with this (inner, unshared) filter be granted, given the grants? Only asked for `$trigger` filters. */
export function triggerSubscribeAllowed (grants: readonly string[], filter: string): boolean {
  return grants.some((grant) => filterCovers(grant, filter))
}
