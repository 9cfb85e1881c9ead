import { Counter, Gauge, type Registry } from 'prom-client'

/**
 * Shared-subscription series, on the broker's registry. The only label is the group name (a
 * small set chosen by operators), never the filter, a client id or a topic. Counters count what
 * this pod did, so sums across pods are cluster totals; `pending` is what this pod has in flight;
 * `lag` is the group's backlog as seen from this pod (the same on every pod in cluster mode:
 * aggregate it with max).
 */
export interface ShareMetrics {
  /** Per-message counts by group: added to their counters when those are read (scrape). */
  readonly counts: { readonly enqueued: GroupCounts, readonly delivered: GroupCounts, readonly redelivered: GroupCounts }
  readonly enqueued: Counter<'group'>
  readonly delivered: Counter<'group'>
  readonly redelivered: Counter<'group'>
  readonly dropped: Counter<'group' | 'reason'>
  readonly pending: Gauge<'group'>
  readonly lag: Gauge<'group'>
}

/** Reasons a group message is dropped. */
export type ShareDropReason = 'max_length' | 'max_age' | 'expired' | 'too_large' | 'acl'

/**
 * Counts by group kept as plain numbers on the per-message path (prom-client hashes and
 * validates the label object on every `inc`) and added to their counter when it is collected,
 * so what a scrape reads is the same.
 */
export class GroupCounts {
  readonly #counts = new Map<string, number>()

  add (group: string, n = 1): void {
    this.#counts.set(group, (this.#counts.get(group) ?? 0) + n)
  }

  drainInto (counter: Counter<'group'>): void {
    for (const [group, n] of this.#counts) counter.inc({ group }, n)
    this.#counts.clear()
  }
}

export function createShareMetrics (registry: Registry): ShareMetrics {
  const registers = [registry]
  const counts = { enqueued: new GroupCounts(), delivered: new GroupCounts(), redelivered: new GroupCounts() }
  return {
    counts,
    enqueued: new Counter({ name: 'starling_share_messages_enqueued_total', help: 'Messages put into a shared-subscription group\'s queue', labelNames: ['group'], registers, collect () { counts.enqueued.drainInto(this) } }),
    delivered: new Counter({ name: 'starling_share_messages_delivered_total', help: 'Group messages handed to a member (first deliveries and redeliveries)', labelNames: ['group'], registers, collect () { counts.delivered.drainInto(this) } }),
    redelivered: new Counter({ name: 'starling_share_messages_redelivered_total', help: 'Group messages delivered again after a member or pod was lost before acknowledging them', labelNames: ['group'], registers, collect () { counts.redelivered.drainInto(this) } }),
    dropped: new Counter({ name: 'starling_share_messages_dropped_total', help: 'Group messages dropped, by reason', labelNames: ['group', 'reason'], registers }),
    pending: new Gauge({ name: 'starling_share_pending_messages', help: 'Group messages this pod has delivered and not yet seen acknowledged', labelNames: ['group'], registers }),
    lag: new Gauge({ name: 'starling_share_lag_messages', help: 'Group messages waiting in the group\'s queue for a member', labelNames: ['group'], registers })
  }
}
