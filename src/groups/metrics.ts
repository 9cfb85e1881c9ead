import { Counter, Gauge, type Registry } from 'prom-client'

/**
 * Shared-subscription series, on the broker's registry. Group names are chosen by clients, so
 * they become label values only within a budget (`share.metricsMaxGroups`, GroupLabels below):
 * beyond it a group is counted under `group="+other"`, and the series of a forgotten group are
 * removed, so `/metrics` stays bounded whatever names clients make up. Never the filter, a client
 * id or a topic. Counters count what this pod did, so sums across pods are cluster totals;
 * `pending` is what this pod has in flight; `lag` is the group's backlog as seen from this pod
 * (the same on every pod in cluster mode: aggregate it with max).
 */
export interface ShareMetrics {
  /** Per-message counts by group: added to their counters when those are read (scrape). */
  readonly counts: { readonly enqueued: GroupCounts, readonly delivered: GroupCounts, readonly redelivered: GroupCounts }
  readonly enqueued: Counter<'group'>
  readonly delivered: Counter<'group'>
  readonly redelivered: Counter<'group'>
  readonly dropped: GroupCounter
  readonly pending: GroupGauge
  readonly lag: GroupGauge
  /** Frees the label of every group not in `live` (forgotten groups) and removes its series. */
  forgetExcept (live: Iterable<string>): void
  /** Groups that have a label value of their own now (at most the budget). */
  readonly labelled: number
}

/** Reasons a group message is dropped. */
export type ShareDropReason = 'max_length' | 'max_bytes' | 'max_age' | 'expired' | 'too_large' | 'acl'
const DROP_REASONS: readonly ShareDropReason[] = ['max_length', 'max_bytes', 'max_age', 'expired', 'too_large', 'acl']

/**
 * The label value of the groups beyond the budget. `+` cannot be in a ShareName [MQTT-4.8.2-2],
 * so no real group is ever confused with it.
 */
export const OTHER_GROUPS_LABEL = '+other'

/** Default budget of group names used as label values. */
export const DEFAULT_METRICS_MAX_GROUPS = 50

/**
 * Which group names are label values: the first `max` groups seen keep their name while they
 * live; others share OTHER_GROUPS_LABEL. A name frees its slot when the group is forgotten.
 */
export class GroupLabels {
  readonly #max: number
  readonly #named = new Set<string>()

  constructor (max: number) {
    this.#max = max
  }

  of (group: string): string {
    if (this.#named.has(group)) return group
    if (this.#named.size < this.#max) {
      this.#named.add(group)
      return group
    }
    return OTHER_GROUPS_LABEL
  }

  get size (): number {
    return this.#named.size
  }

  /** The named groups not in `live`, now unnamed. */
  release (live: ReadonlySet<string>): string[] {
    const gone: string[] = []
    for (const group of this.#named) {
      if (!live.has(group)) {
        this.#named.delete(group)
        gone.push(group)
      }
    }
    return gone
  }
}

/**
 * Counts by group label kept as plain numbers on the per-message path (prom-client hashes and
 * validates the label object on every `inc`) and added to their counter when it is collected,
 * so what a scrape reads is the same.
 */
export class GroupCounts {
  readonly #counts = new Map<string, number>()
  readonly #labels: GroupLabels

  constructor (labels: GroupLabels) {
    this.#labels = labels
  }

  add (group: string, n = 1): void {
    const label = this.#labels.of(group)
    this.#counts.set(label, (this.#counts.get(label) ?? 0) + n)
  }

  drainInto (counter: Counter<'group'>): void {
    for (const [group, n] of this.#counts) counter.inc({ group }, n)
    this.#counts.clear()
  }

  forget (group: string): void {
    this.#counts.delete(group)
  }
}

/** `starling_share_messages_dropped_total` with the group name mapped through the label budget. */
export interface GroupCounter {
  inc (labels: { readonly group: string, readonly reason: ShareDropReason }, n?: number): void
  /** The series as a scrape reads them. */
  get: Counter<'group' | 'reason'>['get']
}

/**
 * A per-group gauge refreshed as a whole (reset, then one set per group): groups beyond the
 * budget are summed into OTHER_GROUPS_LABEL.
 */
export interface GroupGauge {
  reset (): void
  set (labels: { readonly group: string }, n: number): void
  /** The series as a scrape reads them. */
  get: Gauge<'group'>['get']
}

export function createShareMetrics (registry: Registry, maxGroups = DEFAULT_METRICS_MAX_GROUPS): ShareMetrics {
  const registers = [registry]
  const labels = new GroupLabels(maxGroups)
  const counts = { enqueued: new GroupCounts(labels), delivered: new GroupCounts(labels), redelivered: new GroupCounts(labels) }
  const enqueued = new Counter({ name: 'starling_share_messages_enqueued_total', help: 'Messages put into a shared-subscription group\'s queue (group names beyond share.metricsMaxGroups under group="+other")', labelNames: ['group'], registers, collect () { counts.enqueued.drainInto(this) } })
  const delivered = new Counter({ name: 'starling_share_messages_delivered_total', help: 'Group messages handed to a member (first deliveries and redeliveries)', labelNames: ['group'], registers, collect () { counts.delivered.drainInto(this) } })
  const redelivered = new Counter({ name: 'starling_share_messages_redelivered_total', help: 'Group messages delivered again after a member or pod was lost before acknowledging them', labelNames: ['group'], registers, collect () { counts.redelivered.drainInto(this) } })
  const dropped = new Counter({ name: 'starling_share_messages_dropped_total', help: 'Group messages dropped, by reason', labelNames: ['group', 'reason'], registers })
  const pending = new Gauge({ name: 'starling_share_pending_messages', help: 'Group messages this pod has delivered and not yet seen acknowledged', labelNames: ['group'], registers })
  const lag = new Gauge({ name: 'starling_share_lag_messages', help: 'Group messages waiting in the group\'s queue for a member', labelNames: ['group'], registers })
  const gauge = (g: Gauge<'group'>): GroupGauge => ({
    reset: () => { g.reset() },
    get: async () => await g.get(),
    set: ({ group }, n) => {
      const label = labels.of(group)
      if (label === OTHER_GROUPS_LABEL) g.inc({ group: label }, n)
      else g.set({ group: label }, n)
    }
  })
  return {
    counts,
    enqueued,
    delivered,
    redelivered,
    dropped: {
      inc: ({ group, reason }, n = 1) => { dropped.inc({ group: labels.of(group), reason }, n) },
      get: async () => await dropped.get()
    },
    pending: gauge(pending),
    lag: gauge(lag),
    get labelled () { return labels.size },
    forgetExcept (live) {
      for (const group of labels.release(new Set(live))) {
        for (const c of [counts.enqueued, counts.delivered, counts.redelivered]) c.forget(group)
        for (const metric of [enqueued, delivered, redelivered, pending, lag]) metric.remove({ group })
        for (const reason of DROP_REASONS) dropped.remove({ group, reason })
      }
    }
  }
}
