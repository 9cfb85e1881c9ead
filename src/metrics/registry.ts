import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { ConnectionBytes } from './connection-bytes.js'
import { ConnectionCounts } from './connection-counts.js'
import { FastHistogram } from './fast-histogram.js'
import { FaultMetrics } from './faults.js'
import { createPublishRecorder, type PublishRecorder } from './publish.js'
import { RedisMetrics } from './redis.js'
import { StoreMetrics } from './store.js'

/**
 * The broker's Prometheus series (README "Metrics" lists them). Every series carries the `pod`
 * label (the node id); other labels are low-cardinality only: never a client id or topic.
 * Names follow Prometheus conventions: `starling_…_total` counters, base units (seconds, bytes).
 */
export interface BrokerMetrics {
  readonly registry: Registry
  readonly connections: Gauge<'listener' | 'protocol'>
  readonly connectionsTotal: Counter<'listener' | 'protocol'>
  /** What `connections` and `connectionsTotal` report, counted per CONNECT and close (src/broker/observe.ts). */
  readonly connectionCounts: ConnectionCounts
  readonly connectsRefused: Counter<'reason'>
  readonly messagesReceived: Counter<'qos'>
  readonly messagesSent: Counter<'qos'>
  readonly payloadBytesReceived: Counter<'qos'>
  readonly payloadBytesSent: Counter<'qos'>
  readonly bytesReceived: Counter
  readonly bytesSent: Counter
  readonly deliveryLatency: FastHistogram
  readonly messagesDropped: Counter<'reason'>
  readonly disconnectsByServer: Counter<'reason'>
  readonly clientErrors: Counter<'kind'>
  readonly proxyHeaderErrors: Counter<'listener' | 'reason'>
  /** Refusals and drops by a configured limit (README "Limits"); `limit` is one of LIMIT_NAMES. */
  readonly limitHits: Counter<'limit'>
  /** Hot-path recorders for PUBLISH packets received from / written to clients. */
  readonly publishReceived: PublishRecorder
  readonly publishSent: PublishRecorder
  /** Socket byte counters of the open connections. */
  readonly connectionBytes: ConnectionBytes
  readonly redis: RedisMetrics
  readonly store: StoreMetrics
  /** Faults survived (src/metrics/faults.ts). */
  readonly faults: FaultMetrics
}

/** The `limit` label values of `starling_limit_hits_total`: a fixed set, never a client's string. */
export const LIMIT_NAMES = [
  'connections', 'sockets', 'connect_rate', 'will_size', 'subscriptions', 'share_groups', 'share_groups_per_client',
  'share_group_name', 'topic_length', 'topic_levels', 'publish_rate', 'publish_bytes', 'slow_reader_drop',
  'slow_reader_disconnect', 'bus_backlog', 'retained_per_subscription', 'retained_scan', 'retained_messages',
  'retained_bytes', 'persistent_sessions'
] as const
export type LimitName = typeof LIMIT_NAMES[number]

/**
 * Publish-to-deliver latency buckets (seconds): in-process delivery takes well under a
 * millisecond, a hop through Redis to another pod about a millisecond, a loaded pod or a
 * client's full Receive Maximum window tens of milliseconds to seconds.
 */
export const DELIVERY_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** `collectDefaults`: prom-client's process and Node.js series (CPU, memory, event-loop lag, GC), prefixed `starling_`. */
export function createMetrics (nodeId: string, collectDefaults = true): BrokerMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({ pod: nodeId })
  if (collectDefaults) collectDefaultMetrics({ register: registry, prefix: 'starling_' })
  const registers = [registry]
  const qos = (name: string, help: string): Counter<'qos'> => new Counter({ name, help, labelNames: ['qos'], registers })
  const messagesReceived = qos('starling_messages_received_total', 'PUBLISH packets received from clients and accepted, by QoS')
  const messagesSent = qos('starling_messages_sent_total', 'PUBLISH packets written to clients, by QoS (live, retained and queued deliveries)')
  const payloadBytesReceived = qos('starling_payload_bytes_received_total', 'Payload bytes of the PUBLISH packets received from clients, by QoS')
  const payloadBytesSent = qos('starling_payload_bytes_sent_total', 'Payload bytes of the PUBLISH packets written to clients, by QoS')
  const deliveryLatency = new FastHistogram({
    name: 'starling_delivery_latency_seconds',
    help: 'Time from a PUBLISH entering the broker (on any pod) to its copy being written to a subscriber; live deliveries only (not retained or queued ones)',
    buckets: DELIVERY_LATENCY_BUCKETS,
    registry
  })
  const bytesReceived = new Counter({ name: 'starling_bytes_received_total', help: 'Bytes read from MQTT connections that completed CONNECT (TCP and TLS: socket bytes)', registers })
  const bytesSent = new Counter({ name: 'starling_bytes_sent_total', help: 'Bytes written to MQTT connections that completed CONNECT (TCP and TLS: socket bytes)', registers })
  const connectionCounts = new ConnectionCounts()
  const metrics: BrokerMetrics = {
    registry,
    connections: new Gauge({
      name: 'starling_connections',
      help: 'Open MQTT connections, by listener and protocol version',
      labelNames: ['listener', 'protocol'],
      registers,
      collect () {
        for (const count of connectionCounts.values()) this.set(count.labels, count.open)
      }
    }),
    connectionsTotal: new Counter({
      name: 'starling_connections_total',
      help: 'MQTT connections accepted (CONNACK success), by listener and protocol version',
      labelNames: ['listener', 'protocol'],
      registers,
      collect () {
        for (const count of connectionCounts.values()) {
          this.inc(count.labels, count.accepted - count.reported)
          count.reported = count.accepted
        }
      }
    }),
    connectionCounts,
    connectsRefused: new Counter({ name: 'starling_connects_refused_total', help: 'CONNECTs refused, by reason', labelNames: ['reason'], registers }),
    messagesReceived,
    messagesSent,
    payloadBytesReceived,
    payloadBytesSent,
    bytesReceived,
    bytesSent,
    deliveryLatency,
    messagesDropped: new Counter({ name: 'starling_messages_dropped_total', help: 'Messages not delivered, by reason', labelNames: ['reason'], registers }),
    disconnectsByServer: new Counter({ name: 'starling_server_disconnects_total', help: 'Connections closed by the broker, by reason', labelNames: ['reason'], registers }),
    clientErrors: new Counter({ name: 'starling_client_errors_total', help: 'Protocol or transport errors on client connections', labelNames: ['kind'], registers }),
    proxyHeaderErrors: new Counter({ name: 'starling_proxy_header_errors_total', help: 'Connections closed for a missing, invalid or late PROXY protocol header', labelNames: ['listener', 'reason'], registers }),
    limitHits: new Counter({ name: 'starling_limit_hits_total', help: 'Requests refused, messages dropped or clients disconnected by a limit (README "Limits"), by limit', labelNames: ['limit'], registers }),
    publishReceived: createPublishRecorder(messagesReceived, payloadBytesReceived),
    publishSent: createPublishRecorder(messagesSent, payloadBytesSent, deliveryLatency.series()),
    connectionBytes: new ConnectionBytes(bytesReceived, bytesSent),
    redis: new RedisMetrics(registry),
    store: new StoreMetrics(registry),
    faults: new FaultMetrics(registry)
  }
  // Series present from the start (at 0), so rates and alerts work before the first event.
  for (const q of ['0', '1', '2']) {
    for (const counter of [messagesReceived, messagesSent, payloadBytesReceived, payloadBytesSent]) counter.labels(q).inc(0)
  }
  deliveryLatency.series()
  for (const reason of ['acl', 'queue_full', 'packet_too_large', 'expired', 'slow_reader']) metrics.messagesDropped.labels(reason).inc(0)
  for (const limit of LIMIT_NAMES) metrics.limitHits.labels(limit).inc(0)
  return metrics
}
