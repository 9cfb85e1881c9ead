import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

/** The broker's Prometheus series. Labels are low-cardinality only: never a client id or topic. */
export interface BrokerMetrics {
  readonly registry: Registry
  readonly connections: Gauge<'listener' | 'protocol'>
  readonly connectionsTotal: Counter<'listener' | 'protocol'>
  readonly connectsRefused: Counter<'reason'>
  readonly messagesReceived: Counter<'qos'>
  readonly messagesSent: Counter<'qos'>
  readonly bytesReceived: Counter
  readonly bytesSent: Counter
  readonly messagesDropped: Counter<'reason'>
  readonly disconnectsByServer: Counter<'reason'>
  readonly clientErrors: Counter<'kind'>
  readonly proxyHeaderErrors: Counter<'listener' | 'reason'>
}

export function createMetrics (nodeId: string, collectDefaults = true): BrokerMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({ pod: nodeId })
  if (collectDefaults) collectDefaultMetrics({ register: registry, prefix: 'starling_' })
  const registers = [registry]
  return {
    registry,
    connections: new Gauge({ name: 'starling_connections', help: 'Open MQTT connections', labelNames: ['listener', 'protocol'], registers }),
    connectionsTotal: new Counter({ name: 'starling_connections_total', help: 'MQTT connections accepted (CONNACK success)', labelNames: ['listener', 'protocol'], registers }),
    connectsRefused: new Counter({ name: 'starling_connects_refused_total', help: 'CONNECTs refused, by reason', labelNames: ['reason'], registers }),
    messagesReceived: new Counter({ name: 'starling_messages_received_total', help: 'PUBLISH packets received from clients', labelNames: ['qos'], registers }),
    messagesSent: new Counter({ name: 'starling_messages_sent_total', help: 'PUBLISH packets sent to clients', labelNames: ['qos'], registers }),
    bytesReceived: new Counter({ name: 'starling_bytes_received_total', help: 'Bytes read from MQTT connections', registers }),
    bytesSent: new Counter({ name: 'starling_bytes_sent_total', help: 'Bytes written to MQTT connections', registers }),
    messagesDropped: new Counter({ name: 'starling_messages_dropped_total', help: 'Messages not delivered, by reason', labelNames: ['reason'], registers }),
    disconnectsByServer: new Counter({ name: 'starling_server_disconnects_total', help: 'Connections closed by the broker, by reason', labelNames: ['reason'], registers }),
    clientErrors: new Counter({ name: 'starling_client_errors_total', help: 'Protocol or transport errors on client connections', labelNames: ['kind'], registers }),
    proxyHeaderErrors: new Counter({ name: 'starling_proxy_header_errors_total', help: 'Connections closed for a missing, invalid or late PROXY protocol header', labelNames: ['listener', 'reason'], registers })
  }
}
