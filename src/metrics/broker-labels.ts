/**
 * Namespace/broker labels for per-broker series, capped per pod. Brokers are created by the
 * operator, never by a client, but one pod still labels at most `maxBrokers` of them (the first
 * it sees); the others share `namespace="_other", broker="_other"`, so a large installation
 * cannot make the scrape unbounded. Used by the quota and on-publish hook series.
 */

export const MAX_BROKER_SERIES = 1000
export const OTHER_LABEL = '_other'

export type BrokerLabels = { namespace: string, broker: string }

export class BrokerLabeller {
  readonly #maxBrokers: number
  readonly #labelled = new Map<string, BrokerLabels>()

  constructor (maxBrokers: number = MAX_BROKER_SERIES) {
    this.#maxBrokers = maxBrokers
  }

  /** The broker's labels: its own while under the cap (kept for good once given), else `_other`. */
  labels (broker: { readonly id: string, readonly namespace: string, readonly name: string }): BrokerLabels {
    let labels = this.#labelled.get(broker.id)
    if (labels === undefined) {
      labels = this.#labelled.size < this.#maxBrokers ? { namespace: broker.namespace, broker: broker.name } : { namespace: OTHER_LABEL, broker: OTHER_LABEL }
      this.#labelled.set(broker.id, labels)
    }
    return labels
  }
}
