import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { BrokerLabeller, type BrokerLabels } from './broker-labels.js'

/** Why a hook request failed (or was not made). */
export type HookErrorKind = 'status' | 'timeout' | 'network' | 'malformed' | 'refused' | 'open' | 'overflow'
/** Why the hook kept a message from subscribers. */
export type HookDropReason = 'failure' | 'refused' | 'filtered'

/**
 * On-publish hook series, labelled by namespace and broker. Brokers are the operator's, but one
 * pod labels at most `maxBrokers` of them (the first it sees); the rest are summed under
 * `_other`, as the quota series are (src/metrics/broker-labels.ts).
 */
export class HookMetrics {
  readonly #labeller: BrokerLabeller
  readonly duration: Histogram<'namespace' | 'broker'>
  readonly batches: Counter<'namespace' | 'broker'>
  readonly messages: Counter<'namespace' | 'broker'>
  readonly errors: Counter<'namespace' | 'broker' | 'kind'>
  readonly dropped: Counter<'namespace' | 'broker' | 'reason'>
  readonly passedOnFailure: Counter<'namespace' | 'broker'>
  readonly breakerOpen: Gauge<'namespace' | 'broker'>

  constructor (registry: Registry, options: { maxBrokers?: number } = {}) {
    this.#labeller = new BrokerLabeller(options.maxBrokers)
    const registers = [registry]
    const labelNames = ['namespace', 'broker'] as const
    this.duration = new Histogram({
      name: 'starling_hook_request_duration_seconds',
      help: 'On-publish hook requests: time from sending a batch to its answer (or failure)',
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    })
    this.batches = new Counter({ name: 'starling_hook_batches_total', help: 'On-publish hook requests sent (one batch of messages each)', labelNames, registers })
    this.messages = new Counter({ name: 'starling_hook_messages_total', help: 'Messages sent to on-publish hooks', labelNames, registers })
    this.errors = new Counter({ name: 'starling_hook_errors_total', help: 'On-publish hook batches that failed, by kind (status, timeout, network, malformed, refused: 403; open: circuit breaker open, overflow: too many waiting)', labelNames: ['namespace', 'broker', 'kind'], registers })
    this.dropped = new Counter({ name: 'starling_hook_messages_dropped_total', help: 'Messages an on-publish hook kept from subscribers, by reason (failure: failure policy drop; refused: 403; filtered: left out of the answer)', labelNames: ['namespace', 'broker', 'reason'], registers })
    this.passedOnFailure = new Counter({ name: 'starling_hook_messages_delivered_on_failure_total', help: 'Messages delivered unchanged after their hook failed (failure policy deliver)', labelNames, registers })
    this.breakerOpen = new Gauge({ name: 'starling_hook_breaker_open', help: '1 while a broker\'s on-publish circuit breaker is open on this pod', labelNames, registers })
  }

  labels (broker: { id: string, namespace: string, name: string }): BrokerLabels {
    return this.#labeller.labels(broker)
  }
}
