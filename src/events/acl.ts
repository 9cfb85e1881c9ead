import type { AclRule } from '../config/schema.js'
import { filterMayMatchAllowed } from '../broker/acl-policy.js'
import { isTriggerTopic } from './names.js'

/**
 * Who may subscribe to `$trigger/...`: nobody by default. Events name every client of a broker,
 * its address and its subscriptions, so a subscription to them needs an explicit grant: an allow
 * rule (config `acl`, action subscribe or all) or a token's subscribe filter whose first level is
 * `$trigger` itself and which can match the requested filter. `allow #` is no grant: `#` does not
 * match `$` topics [MQTT-4.7.2-1]. Deny rules still apply on top (the client's ordinary ACL).
 */
export function triggerGrants (rules: readonly AclRule[], tokenSubscribe?: readonly string[]): readonly string[] {
  const fromRules = rules.filter((rule) => rule.allow && rule.action !== 'publish' && isTriggerTopic(rule.topic)).map((rule) => rule.topic)
  const fromToken = (tokenSubscribe ?? []).filter(isTriggerTopic)
  return [...fromRules, ...fromToken]
}

/** May a subscription with this (inner, unshared) filter be granted, given the grants? Only asked for `$trigger` filters. */
export function triggerSubscribeAllowed (grants: readonly string[], filter: string): boolean {
  if (grants.length === 0) return false
  return filterMayMatchAllowed([{ rules: grants.map((g) => ({ filter: g, allow: true })), otherwise: false }], filter)
}
