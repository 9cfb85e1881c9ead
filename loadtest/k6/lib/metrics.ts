/**
 * Custom k6 metrics shared by every scenario (README.md explains each). Created in the init
 * context, as k6 requires. Times are in milliseconds (Trends created with isTime = true).
 */
import { Counter, Rate, Trend } from 'k6/metrics'
import type { Options } from 'k6/options'
import type { Settings } from './settings.ts'

export const m = {
  /** One sample per connect attempt: true when CONNACK 0x00 arrived in time. Tag `phase`: initial | reconnect. */
  connectSuccess: new Rate('mqtt_connect_success'),
  /** WebSocket open request → successful CONNACK. */
  connectTime: new Trend('mqtt_connect_time', true),
  /** Sessions that closed without the script asking (server DISCONNECT, keep-alive timeout, network). */
  drops: new Counter('mqtt_connection_drops'),
  pingRtt: new Trend('mqtt_ping_rtt', true),
  /** Application messages published by the scripts (not counting retained-state writes). */
  sent: new Counter('mqtt_messages_sent'),
  /** First arrival of each sent message. */
  delivered: new Counter('mqtt_messages_delivered'),
  /** Sent and not arrived by the end of the drain time. */
  lost: new Counter('mqtt_messages_lost'),
  duplicates: new Counter('mqtt_messages_duplicated'),
  /** true per delivered message, false per lost one: its rate is the delivery ratio. */
  delivery: new Rate('mqtt_delivery'),
  /** Publisher send time (in the payload) → subscriber receive time. */
  latency: new Trend('mqtt_e2e_latency', true),
  /** QoS 1/2 PUBLISH → PUBACK/PUBCOMP. */
  ackTime: new Trend('mqtt_publish_ack_time', true),
  /** PUBLISH answered with a failure reason code, or not sent because the server's Receive Maximum was reached. */
  publishRefused: new Counter('mqtt_publish_refused'),
  /** SUBSCRIBE → retained message, and whether each device got its retained state. */
  retainedReadTime: new Trend('mqtt_retained_read_time', true),
  retainedOk: new Rate('mqtt_retained_ok'),
  /** Reconnect storm: true when CONNACK said Session Present after the drop. */
  sessionResumed: new Rate('mqtt_session_resumed')
}

/** Makes zero-valued counters exist so count thresholds never evaluate an absent metric. */
export function touchCounters (): void {
  m.drops.add(0)
  m.lost.add(0)
  m.duplicates.add(0)
  m.publishRefused.add(0)
}

/** Thresholds every scenario shares: connect success rate and connect time. */
export function connectThresholds (s: Settings): NonNullable<Options['thresholds']> {
  return {
    mqtt_connect_success: [`rate>=${s.minConnectSuccess}`],
    mqtt_connect_time: [`p(95)<${s.p95ConnectMs}`]
  }
}

/** Thresholds of scenarios that move messages: delivery ratio and p95 end-to-end latency. */
export function deliveryThresholds (s: Settings): NonNullable<Options['thresholds']> {
  return {
    mqtt_delivery: [`rate>=${s.minDelivery}`],
    mqtt_e2e_latency: [`p(95)<${s.p95LatencyMs}`]
  }
}

/**
 * One VU holds a slice of the devices: a per-vu-iterations scenario with one iteration each,
 * bounded by ramp + hold + drain + a margin.
 */
export function fleetOptions (s: Settings, extraMs: number, thresholds: NonNullable<Options['thresholds']>): Options {
  const rampMs = (s.devices / s.rate) * 1000
  const maxMs = Math.ceil(rampMs + s.durationMs + s.drainMs + s.connectTimeoutMs + extraMs + 30_000)
  return {
    scenarios: {
      devices: { executor: 'per-vu-iterations', vus: s.vus, iterations: 1, maxDuration: `${Math.ceil(maxMs / 1000)}s`, gracefulStop: '30s' }
    },
    thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max', 'count']
  }
}
