import { Counter, Gauge, type Registry } from 'prom-client'
import { QUOTA_REFUSALS, type BrokerCounters, type QuotaRefusal } from '../quotas/engine.js'

import { BrokerLabeller } from './broker-labels.js'

export { MAX_BROKER_SERIES, OTHER_LABEL } from './broker-labels.js'

/**
 * Per-broker series, labelled by namespace and broker, capped per pod (src/metrics/broker-labels.ts:
 * past MAX_BROKER_SERIES brokers, the first it counts, the others are summed under `_other`).
 * Nothing here runs per message: the engine keeps plain per-broker totals and these series read
 * them at scrape time.
 */

export interface QuotaCounterSource {
  counters (): Iterable<BrokerCounters>
}

export class QuotaMetrics {
  readonly #source: QuotaCounterSource
  readonly #labeller: BrokerLabeller
  /** What each broker's totals were at the last scrape (counters grow by the difference). */
  readonly #seen = new Map<string, { messagesIn: number, messagesOut: number, bytesIn: number, bytesOut: number, refusals: Record<QuotaRefusal, number> }>()

  constructor (registry: Registry, source: QuotaCounterSource, options: { maxBrokers?: number } = {}) {
    this.#source = source
    this.#labeller = new BrokerLabeller(options.maxBrokers)
    const registers = [registry]
    const labelNames = ['namespace', 'broker'] as const
    // The first series registered folds every broker's totals into all of them (a scrape reads
    // the series in registration order).
    const received: Counter<'namespace' | 'broker'> = new Counter({
      name: 'starling_broker_messages_received_total',
      help: 'PUBLISH packets accepted from the clients of a broker (after its quotas)',
      labelNames,
      registers,
      collect: () => this.#collect({ received, sent, bytesIn, bytesOut, refusals, connections })
    })
    const sent = new Counter({ name: 'starling_broker_messages_sent_total', help: 'PUBLISH packets written to the clients of a broker', labelNames, registers })
    const bytesIn = new Counter({ name: 'starling_broker_payload_bytes_received_total', help: 'Payload bytes of the PUBLISH packets accepted from the clients of a broker', labelNames, registers })
    const bytesOut = new Counter({ name: 'starling_broker_payload_bytes_sent_total', help: 'Payload bytes of the PUBLISH packets written to the clients of a broker', labelNames, registers })
    const refusals = new Counter({ name: 'starling_quota_refusals_total', help: 'CONNECTs and PUBLISHes refused (or not retained) by a broker quota, by quota', labelNames: ['namespace', 'broker', 'quota'], registers })
    const connections = new Gauge({ name: 'starling_broker_connections', help: 'Open connections of a broker on this pod (sum over pods for the cluster)', labelNames, registers })
  }

  #collect (series: { received: Counter, sent: Counter, bytesIn: Counter, bytesOut: Counter, refusals: Counter, connections: Gauge }): void {
    series.connections.reset()
    for (const counters of this.#source.counters()) {
      const labels = this.#labeller.labels(counters.broker)
      const seen = this.#seen.get(counters.broker.id) ?? { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, refusals: { max_connections: 0, publish_rate: 0, bytes_per_second: 0, max_retained: 0 } }
      const t = counters.totals
      series.received.inc(labels, t.messagesIn - seen.messagesIn)
      series.sent.inc(labels, t.messagesOut - seen.messagesOut)
      series.bytesIn.inc(labels, t.bytesIn - seen.bytesIn)
      series.bytesOut.inc(labels, t.bytesOut - seen.bytesOut)
      for (const quota of QUOTA_REFUSALS) series.refusals.inc({ ...labels, quota }, counters.refusals[quota] - seen.refusals[quota])
      series.connections.inc(labels, counters.connections)
      this.#seen.set(counters.broker.id, { messagesIn: t.messagesIn, messagesOut: t.messagesOut, bytesIn: t.bytesIn, bytesOut: t.bytesOut, refusals: { ...counters.refusals } })
    }
  }
}
