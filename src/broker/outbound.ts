import type { Aedes, Client } from 'aedes'
import type { Counter } from 'prom-client'
import type { BrokerMetrics } from '../metrics/registry.js'

/** Why aedes' outbound path (node_modules/aedes/lib/outbound.js) discarded a PUBLISH for one client. */
export type OutboundDropReason = 'packet_too_large' | 'queue_full' | 'expired'

/**
 * The `onPublishSent` hook aedes calls for every PUBLISH written to a client. It is on the delivery
 * hot path, so it only bumps a plain array slot; the Prometheus counter is brought up to date when
 * it is read (scrape or `get()`), which avoids prom-client's per-call label hashing.
 */
export function countPublishSent (counter: Counter<'qos'>): (client: Client, packet: { qos: number }) => void {
  const pending = [0, 0, 0]
  const flush = (): void => {
    for (let qos = 0; qos < pending.length; qos++) {
      const n = pending[qos] ?? 0
      if (n > 0) {
        counter.inc({ qos: String(qos) }, n)
        pending[qos] = 0
      }
    }
  }
  ;(counter as unknown as { collect?: () => void }).collect = flush
  return function onPublishSent (_client: Client, packet: { qos: number }): void {
    const qos = packet.qos
    pending[qos] = (pending[qos] ?? 0) + 1
  }
}

/** Counts outbound PUBLISH packets aedes discarded for a client, by reason. */
export function observeOutbound (broker: Aedes, metrics: BrokerMetrics): void {
  ;(broker as unknown as NodeJS.EventEmitter).on('publishDropped', (_packet: unknown, _client: Client, reason: OutboundDropReason) => {
    metrics.messagesDropped.inc({ reason })
  })
}
