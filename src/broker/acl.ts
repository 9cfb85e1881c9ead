import type { Client } from './engine.js'
import type { AclRule } from '../config/schema.js'
import type { TopicAclClaims } from '../tenancy/types.js'
import { filterMayMatchAllowed, topicCheck, type Policy, type RuleList } from './acl-policy.js'

/**
 * Per-client access control, Mosquitto's model: a subscription is granted when its filter can
 * match at least one topic the client may read, and every message is checked against the
 * client's read rules when it is delivered, so broad filters (`#`, `+/+`) work and a denied
 * topic never arrives. A client's rules are resolved once after CONNECT and shared, with their
 * per-topic verdict caches, by every client with the same rules (one ACL identity).
 */

/** Topics whose verdicts one ACL identity keeps per action (oldest forgotten first). */
export const VERDICT_CACHE_TOPICS = 4096
/** ACL identities (distinct rule sets) kept for sharing; past it the oldest is forgotten (its clients keep theirs). */
export const ACL_IDENTITIES = 10_000

/** The config file's rules for one action: first match wins, no match allows. */
export function staticRuleList (rules: readonly AclRule[], action: 'publish' | 'subscribe'): RuleList {
  return {
    rules: rules.filter((rule) => rule.action === 'all' || rule.action === action).map((rule) => ({ filter: rule.topic, allow: rule.allow })),
    otherwise: true
  }
}

/** An allow-list of filters (a token's topic ACL): a topic matching one of them passes, nothing else. */
export function allowListRuleList (filters: readonly string[]): RuleList {
  return { rules: filters.map((filter) => ({ filter, allow: true })), otherwise: false }
}

/** Keeps the lists that can refuse something (a list with no rules that allows by default is no rule). */
function restrictive (lists: readonly RuleList[]): Policy {
  return lists.filter((list) => list.rules.length > 0 || !list.otherwise)
}

class VerdictCache {
  readonly #verdicts = new Map<string, boolean>()
  readonly #check: (topic: string) => boolean

  constructor (check: (topic: string) => boolean) {
    this.#check = check
  }

  get (topic: string): boolean {
    let verdict = this.#verdicts.get(topic)
    if (verdict === undefined) {
      verdict = this.#check(topic)
      if (this.#verdicts.size >= VERDICT_CACHE_TOPICS) this.#verdicts.delete(this.#verdicts.keys().next().value as string)
      this.#verdicts.set(topic, verdict)
    }
    return verdict
  }
}

/** The effective rules of one ACL identity: the intersection of its rule lists, per action. */
export class TopicAcl {
  readonly #publishPolicy: Policy
  readonly #readPolicy: Policy
  readonly #publish: VerdictCache
  readonly #read: VerdictCache

  constructor (publish: Policy, read: Policy) {
    this.#publishPolicy = publish
    this.#readPolicy = read
    this.#publish = new VerdictCache(topicCheck(publish))
    this.#read = new VerdictCache(topicCheck(read))
  }

  /** No rule can refuse anything: the hooks skip it. */
  get open (): boolean {
    return this.#publishPolicy.length === 0 && this.#readPolicy.length === 0
  }

  /** A PUBLISH to this topic name. */
  mayPublish (topic: string): boolean {
    return this.#publishPolicy.length === 0 || this.#publish.get(topic)
  }

  /** A message on this topic delivered to the client (live, retained, queued, group, will). */
  mayRead (topic: string): boolean {
    return this.#readPolicy.length === 0 || this.#read.get(topic)
  }

  /** A subscription: granted when the filter can match a topic the client may read. */
  maySubscribe (filter: string): boolean {
    return this.#readPolicy.length === 0 || filterMayMatchAllowed(this.#readPolicy, filter)
  }
}

/**
 * A client's rules besides the config file's, each intersected with them: its tenant broker's
 * own rules and its token's topic ACL (lists of filters it may publish to and subscribe within).
 */
export interface ClientAclInputs {
  readonly rules?: readonly AclRule[]
  readonly token?: TopicAclClaims
}

/** Where a client's extra rules come from (the identity step: tenant broker, verified token). */
export type ClientAclSource = (client: Client) => ClientAclInputs | undefined

/**
 * Resolves each client's effective ACL: the config file's rules, intersected with the client's
 * extra rules when it has any (a topic passes when every rule set allows it). Resolved at the
 * first check after CONNECT (aedes authorizes nothing before authentication ends) and kept for
 * the connection.
 */
export class ClientAcls {
  readonly #rules: readonly AclRule[]
  readonly #source: ClientAclSource | undefined
  readonly #byClient = new WeakMap<Client, TopicAcl>()
  readonly #identities = new Map<string, TopicAcl>()

  constructor (rules: readonly AclRule[], source?: ClientAclSource) {
    this.#rules = rules
    this.#source = source
  }

  /** Could any client be refused anything? If not, the broker installs no delivery check. */
  get restricts (): boolean {
    return this.#rules.length > 0 || this.#source !== undefined
  }

  /** The ACL for these extra rules (none: the config file's alone), shared per identity. */
  resolve (inputs?: ClientAclInputs): TopicAcl {
    const token = inputs?.token
    const rules = inputs?.rules ?? []
    const key = inputs === undefined ? '' : JSON.stringify([rules, token?.publish ?? null, token?.subscribe ?? null])
    let acl = this.#identities.get(key)
    if (acl === undefined) {
      const publish = [staticRuleList(this.#rules, 'publish'), staticRuleList(rules, 'publish')]
      const read = [staticRuleList(this.#rules, 'subscribe'), staticRuleList(rules, 'subscribe')]
      if (token?.publish !== undefined) publish.push(allowListRuleList(token.publish))
      if (token?.subscribe !== undefined) read.push(allowListRuleList(token.subscribe))
      acl = new TopicAcl(restrictive(publish), restrictive(read))
      if (this.#identities.size >= ACL_IDENTITIES) this.#identities.delete(this.#identities.keys().next().value as string)
      this.#identities.set(key, acl)
    }
    return acl
  }

  /** The client's ACL (resolved on first use after CONNECT). */
  of (client: Client): TopicAcl {
    let acl = this.#byClient.get(client)
    if (acl === undefined) {
      acl = this.resolve(this.#source?.(client))
      this.#byClient.set(client, acl)
    }
    return acl
  }
}
