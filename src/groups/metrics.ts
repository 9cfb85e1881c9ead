import { Counter, Gauge, type Registry } from 'prom-client'

/**
 * Shared-subscription series, on the broker's registry. The only label is the group name (a
 * small set chosen by operators), never the filter, a client id or a topic. Counters count what
 * this pod did, so sums across pods are cluster totals; `pending` is what this pod has in flight;
 * `lag` is the group's backlog as seen from this pod (the same on every pod in cluster mode:
 * aggregate it with max).
 */
export interface ShareMetrics {
  readonly enqueued: Counter<'group'>
  readonly delivered: Counter<'group'>
  readonly redelivered: Counter<'group'>
  readonly dropped: Counter<'group' | 'reason'>
  readonly pending: Gauge<'group'>
  readonly lag: Gauge<'group'>
}

/** Reasons a group message is dropped. */
export type ShareDropReason = 'max_length' | 'max_age' | 'expired' | 'too_large'

export function createShareMetrics (registry: Registry): ShareMetrics {
  const registers = [registry]
  return {
    enqueued: new Counter({ name: 'starling_share_messages_enqueued_total', help: 'Messages put into a shared-subscription group\'s queue', labelNames: ['group'], registers }),
    delivered: new Counter({ name: 'starling_share_messages_delivered_total', help: 'Group messages handed to a member (first deliveries and redeliveries)', labelNames: ['group'], registers }),
    redelivered: new Counter({ name: 'starling_share_messages_redelivered_total', help: 'Group messages delivered again after a member or pod was lost before acknowledging them', labelNames: ['group'], registers }),
    dropped: new Counter({ name: 'starling_share_messages_dropped_total', help: 'Group messages dropped, by reason', labelNames: ['group', 'reason'], registers }),
    pending: new Gauge({ name: 'starling_share_pending_messages', help: 'Group messages this pod has delivered and not yet seen acknowledged', labelNames: ['group'], registers }),
    lag: new Gauge({ name: 'starling_share_lag_messages', help: 'Group messages waiting in the group\'s queue for a member', labelNames: ['group'], registers })
  }
}
