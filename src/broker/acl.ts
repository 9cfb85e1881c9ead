import type { Client } from './engine.js'
import type { AclRule } from '../config/schema.js'
import type { TopicAclClaims } from '../tenancy/types.js'
import { StarlingError } from '../errors.js'
import type { ConnectStep } from './connect-guard.js'
import { filterMayMatchAllowed, grantOnlyDefault, topicCheck, type Policy, type RuleList } from './acl-policy.js'
import { setNewest } from '../util/bounded-map.js'

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
      setNewest(this.#verdicts, topic, verdict, VERDICT_CACHE_TOPICS)
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
  /**
   * Can a message that reached one of the client's subscriptions still be refused? Not when the
   * read rules are only the grant-only default with no grant: the topics it denies (`$SYS/...`,
   * `$trigger/...`) match only a filter that names them [MQTT-4.7.2-1], and maySubscribe refuses
   * every such filter (restored subscriptions are authorized again), so the delivery check is skipped.
   */
  readonly checksDelivery: boolean

  constructor (publish: Policy, read: Policy, checksDelivery = true) {
    this.#publishPolicy = publish
    this.#readPolicy = read
    this.#publish = new VerdictCache(topicCheck(publish))
    this.#read = new VerdictCache(topicCheck(read))
    this.checksDelivery = checksDelivery && read.length > 0
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

  /**
   * Could any client be refused a publish or a delivery? If not, the broker installs no delivery
   * check. Subscriptions are always checked: the grant-only topics (`$SYS`, `$trigger`) are
   * refused without a grant, and only a filter naming them can match them [MQTT-4.7.2-1], so
   * refusing the subscription keeps their messages away without a per-message check.
   */
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
      // `$SYS/...` and `$trigger/...` are read only with a grant in one of these lists
      const readDefault = grantOnlyDefault(read)
      const readPolicy = restrictive([...read, readDefault])
      const onlyUngrantedDefault = readPolicy.length === 1 && readPolicy[0] === readDefault && readDefault.rules.every((rule) => !rule.allow)
      acl = new TopicAcl(restrictive(publish), readPolicy, !onlyUngrantedDefault)
      setNewest(this.#identities, key, acl, ACL_IDENTITIES)
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

/**
 * The CONNECT step that checks the will: the broker publishes it for the client, so its topic
 * must pass the client's publish rules, checked now rather than only when the will is due (the
 * check at publication stays, for wills stored before a rule changed). Refused with CONNACK 0x87
 * Not authorized (MQTT 5 §3.2.2.2) / return code 5 (3.1.1 §3.2.2.3). Runs after the steps that
 * decide the client's identity (its ACL is resolved here and kept for the connection).
 */
export function authorizeWill (mayPublish: (client: Client, topic: string) => boolean): ConnectStep {
  return function authorizeWill (ctx) {
    const will = ctx.client._will
    if (will !== null && will !== undefined && !mayPublish(ctx.client, will.topic)) throw new StarlingError('STARLING_ERR_WILL_DENIED')
  }
}
