/**
 * The pure model of topic access: ordered rule lists, their intersection, and the two questions
 * the broker asks of them — may this topic pass (publish, delivery), and can this subscription
 * filter match at least one topic that may pass (SUBSCRIBE). No aedes, no state.
 *
 * Matching: an allow rule matches as a subscription filter does, so a rule starting with `+` or
 * `#` does not match a topic starting with `$` [MQTT-4.7.2-1]; a deny rule matches level by level
 * with no such exception, so `deny #` also denies `$foo/bar` and `allow #` + `deny $SYS/#`
 * keeps `$SYS` closed.
 */

/** One rule of an ordered list: a topic filter that allows or denies the topics it matches. */
export interface TopicRule {
  readonly filter: string
  readonly allow: boolean
}

/** First matching rule wins; `otherwise` decides a topic no rule matches. */
export interface RuleList {
  readonly rules: readonly TopicRule[]
  readonly otherwise: boolean
}

/** A topic passes a policy when every list allows it (the intersection of rule sets). */
export type Policy = readonly RuleList[]

/** A filter split into levels; `dollarGuard`: it does not match `$` topics [MQTT-4.7.2-1]. */
interface Pattern {
  readonly levels: readonly string[]
  readonly dollarGuard: boolean
}

function pattern (filter: string, specMatching: boolean): Pattern {
  const levels = filter.split('/')
  return { levels, dollarGuard: specMatching && (levels[0] === '+' || levels[0] === '#') }
}

const rulePattern = (rule: TopicRule): Pattern => pattern(rule.filter, rule.allow)

function isDollar (level: string | undefined): boolean {
  return level !== undefined && level.charCodeAt(0) === 36 /* $ */
}

/** Does the pattern match the topic (as levels)? `#` also matches the parent level [MQTT-4.7.1-2]. */
function matches (p: Pattern, topic: readonly string[]): boolean {
  if (p.dollarGuard && isDollar(topic[0])) return false
  const f = p.levels
  for (let i = 0; i < f.length; i++) {
    const level = f[i]
    if (level === '#') return true
    if (i >= topic.length) return false
    if (level !== '+' && level !== topic[i]) return false
  }
  return f.length === topic.length
}

/** Could the pattern match the prefix itself or some topic that extends it? */
function compatible (p: Pattern, prefix: readonly string[]): boolean {
  if (p.dollarGuard && isDollar(prefix[0])) return false
  const f = p.levels
  for (let i = 0; i < prefix.length; i++) {
    const level = f[i]
    if (level === '#') return true
    if (level === undefined) return false
    if (level !== '+' && level !== prefix[i]) return false
  }
  return true
}

/** The policy as a compiled check: does it let this topic pass? Every list decides by its first matching rule. */
export function topicCheck (policy: Policy): (topic: string) => boolean {
  const lists = policy.map((list) => ({ rules: list.rules.map((rule) => ({ p: rulePattern(rule), allow: rule.allow })), otherwise: list.otherwise }))
  return (topic) => {
    const levels = topic.split('/')
    for (const list of lists) {
      let verdict = list.otherwise
      for (const rule of list.rules) {
        if (matches(rule.p, levels)) { verdict = rule.allow; break }
      }
      if (!verdict) return false
    }
    return true
  }
}

export function topicAllowed (policy: Policy, topic: string): boolean {
  return topicCheck(policy)(topic)
}

/**
 * The broker's own topics: `$SYS/...` (aedes' and Starling's events and metrics) and
 * `$trigger/...` (event topics). A client reads them only with an explicit grant, an allow rule
 * naming them in one of its rule sets (operators' tokens, `allow subscribe $SYS/#` in the config);
 * `allow #` never reaches them anyway [MQTT-4.7.2-1].
 */
export const GRANT_ONLY_ROOTS: readonly string[] = ['$SYS', '$trigger']

function grantOnly (filter: string): boolean {
  const slash = filter.indexOf('/')
  return GRANT_ONLY_ROOTS.includes(slash === -1 ? filter : filter.slice(0, slash))
}

/**
 * The built-in default of a read policy: one more list that denies the grant-only topics except
 * where an allow rule of `lists` names them (first match wins, so those grants come first). A
 * deny in any list still applies (the intersection), so a grant lifts only the default.
 */
export function grantOnlyDefault (lists: readonly RuleList[]): RuleList {
  const grants = lists.flatMap((list) => list.rules.filter((rule) => rule.allow && grantOnly(rule.filter)))
  return { rules: [...grants, ...GRANT_ONLY_ROOTS.map((root) => ({ filter: `${root}/#`, allow: false }))], otherwise: true }
}

/** Steps one subscription check may take before it stops and grants (see filterMayMatchAllowed). */
export const SEARCH_BUDGET = 20_000

/** Stands for every level value that no pattern names (NUL never occurs in a valid topic). */
const FRESH = '\u0000'
const FRESH_DOLLAR = '$\u0000'

type Search = { left: number }

/**
 * Is there a topic that every positive pattern matches and no negative one does? Exact: a
 * topic's levels matter only through the literals the patterns name at each position (any
 * other value behaves as FRESH, or FRESH_DOLLAR for a first level starting with `$`), and its
 * length only up to one more than the longest pattern. Walks prefixes depth first, keeping
 * only positives-compatible ones and the negatives still alive. `undefined` when out of budget.
 */
function someTopic (positives: readonly Pattern[], negatives: readonly Pattern[], search: Search): boolean | undefined {
  let longest = 0
  for (const p of positives) longest = Math.max(longest, p.levels.length)
  for (const n of negatives) longest = Math.max(longest, n.levels.length)
  const depth = longest + 1

  const candidates = (i: number): string[] => {
    for (const p of positives) {
      const level = p.levels[i]
      if (level !== undefined && level !== '+' && level !== '#') return [level]
    }
    const values = new Set<string>([FRESH])
    if (i === 0) values.add(FRESH_DOLLAR)
    for (const n of negatives) {
      const level = n.levels[i]
      if (level !== undefined && level !== '+' && level !== '#') values.add(level)
    }
    return [...values]
  }

  const walk = (prefix: string[], alive: readonly Pattern[]): boolean | undefined => {
    if (--search.left < 0) return undefined
    if (prefix.length > 0 && positives.every((p) => matches(p, prefix)) && !alive.some((n) => matches(n, prefix))) return true
    if (prefix.length === depth) return false
    let unknown = false
    for (const value of candidates(prefix.length)) {
      prefix.push(value)
      if (positives.every((p) => compatible(p, prefix))) {
        const found = walk(prefix, alive.filter((n) => compatible(n, prefix)))
        if (found === true) return true
        if (found === undefined) unknown = true
      }
      prefix.pop()
      if (unknown) return undefined
    }
    return false
  }
  return walk([], negatives)
}

/** The ways one list can allow a topic: through allow rule i (and none of the denies before it), or by default. */
function ways (list: RuleList): Array<{ pos: Pattern[], neg: Pattern[] }> {
  const out: Array<{ pos: Pattern[], neg: Pattern[] }> = []
  const denies: Pattern[] = []
  for (const rule of list.rules) {
    if (rule.allow) out.push({ pos: [rulePattern(rule)], neg: [...denies] })
    else denies.push(rulePattern(rule))
  }
  // A topic no deny matches is allowed: its first matching rule, if any, is an allow.
  if (list.otherwise) out.push({ pos: [], neg: denies })
  return out
}

/**
 * Can the subscription filter match at least one topic the policy lets pass? Exact while within
 * SEARCH_BUDGET steps (a few rules need a few dozen); past it, or when the lists' ways multiply
 * past it, the answer is `true`: granting is the safe error, since every message is checked
 * again at delivery (topicAllowed) and a denied topic never reaches the subscriber.
 */
export function filterMayMatchAllowed (policy: Policy, filter: string, budget = SEARCH_BUDGET): boolean {
  const subscription = pattern(filter, true)
  const search: Search = { left: budget }
  let combos: Array<{ pos: Pattern[], neg: Pattern[] }> = [{ pos: [subscription], neg: [] }]
  for (const list of policy) {
    const options = ways(list)
    const next: typeof combos = []
    for (const combo of combos) {
      for (const way of options) next.push({ pos: [...combo.pos, ...way.pos], neg: [...combo.neg, ...way.neg] })
    }
    if (next.length > budget) return true
    combos = next
  }
  for (const { pos, neg } of combos) {
    const found = someTopic(pos, neg, search)
    if (found !== false) return true // found, or out of budget: grant (delivery filters)
  }
  return false
}
