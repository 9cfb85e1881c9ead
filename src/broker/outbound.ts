import type { Client, Engine } from './engine.js'
import type { Counter } from 'prom-client'
import type { BrokerMetrics } from '../metrics/registry.js'
import { recorderFor } from '../metrics/publish.js'

/**
 * The `onPublishSent` hook aedes calls for every PUBLISH written to a client (our aedes patch,
 * lib/outbound.js). For the counter of createMetrics it is the node's delivery recorder
 * (messages and payload bytes by QoS, publish-to-deliver latency, src/metrics/publish.ts); it
 * only bumps array slots, folded into the counters when they are read.
 */
export function countPublishSent (counter: Counter<'qos'>): (client: Client, packet: { qos: number }) => void {
  return recorderFor(counter)
}

/** Counts outbound PUBLISH packets aedes discarded for a client, by reason. */
export function observeOutbound (broker: Engine, metrics: BrokerMetrics): void {
  // A full window can drop many messages in a burst: the counter child of each reason is kept.
  const byReason = new Map<string, { inc: () => void }>()
  broker.on('publishDropped', (_packet, _client, reason) => {
    let child = byReason.get(reason)
    if (child === undefined) {
      child = metrics.messagesDropped.labels(reason)
      byReason.set(reason, child)
    }
    child.inc()
  })
}
