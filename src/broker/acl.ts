import type { AclRule } from '../config/schema.js'
import { filterCovers, filterMatches, filtersOverlap } from './topics.js'

export type AclAction = 'publish' | 'subscribe'

/**
 * The static ACL of the config file: first matching rule wins, default allow.
 * A publish is matched by topic name. A subscription filter is denied by the first deny rule it
 * could receive messages from (overlap), so `#` cannot read around a `secret/#` deny; it is
 * allowed early only by an allow rule that covers it entirely.
 */
export class StaticAcl {
  readonly #rules: readonly AclRule[]

  constructor (rules: readonly AclRule[]) {
    this.#rules = rules
  }

  get empty (): boolean {
    return this.#rules.length === 0
  }

  allows (action: AclAction, topic: string): boolean {
    for (const rule of this.#rules) {
      if (rule.action !== 'all' && rule.action !== action) continue
      if (action === 'publish') {
        if (filterMatches(rule.topic, topic)) return rule.allow
      } else if (rule.allow ? filterCovers(rule.topic, topic) : filtersOverlap(rule.topic, topic)) {
        return rule.allow
      }
    }
    return true
  }
}
