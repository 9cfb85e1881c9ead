import type { Client, Engine } from './engine.js'
import type { Logger } from '../logger.js'
import { isByteCounting, type ByteCountingSocket } from '../metrics/connection-bytes.js'
import type { ConnectionCount } from '../metrics/connection-counts.js'
import type { BrokerMetrics } from '../metrics/registry.js'

/** Where a connection came in, stamped by the listener on the request aedes keeps as `client.req`. */
export interface ConnectionOrigin {
  readonly listener: string
  readonly remoteAddress?: string
  readonly remotePort?: number
  /**
   * The host name the client asked for: TLS SNI (mqtts), the WebSocket Host header without its
   * port (ws, wss). `<broker>.<namespace>.<tenancy.domain>` selects that broker (src/tenancy).
   */
  readonly serverName?: string
  /**
   * The network socket under the MQTT stream, for `starling_bytes_*_total`, when the stream is
   * not that socket itself (WebSocket: the HTTP request's socket). TCP and TLS need not set it.
   */
  readonly socket?: ByteCountingSocket
}

/** What node.ts hands aedes with each connection; aedes keeps it as `client.req`. */
export interface ConnectionRequest { readonly starling: ConnectionOrigin }

export function originOf (client: Client): ConnectionOrigin {
  const req = client.req as Partial<ConnectionRequest> | undefined
  return req?.starling ?? { listener: 'unknown' }
}

function protocolLabel (client: Client): string {
  return client.version === 5 ? '5' : client.version === 3 ? '3.1' : '3.1.1'
}

/** CONNACK refusal codes (v5 reason code, or v3.1.1 return code) → `starling_connects_refused_total` reason. */
const REFUSAL_REASONS = new Map<number, string>([
  [0x80, 'unspecified_error'], [0x81, 'malformed_packet'], [0x82, 'protocol_error'], [0x83, 'implementation_specific_error'],
  [0x84, 'unsupported_protocol_version'], [0x85, 'client_id_not_valid'], [0x86, 'bad_username_or_password'],
  [0x87, 'not_authorized'], [0x88, 'server_unavailable'], [0x89, 'server_busy'], [0x8a, 'banned'],
  [0x8c, 'bad_authentication_method'], [0x95, 'packet_too_large'], [0x97, 'quota_exceeded'],
  [0x9c, 'use_another_server'], [0x9d, 'server_moved'], [0x9f, 'connection_rate_exceeded']
])
const RETURN_CODE_REASONS = ['accepted', 'unsupported_protocol_version', 'client_id_not_valid', 'server_unavailable', 'bad_username_or_password', 'not_authorized', 'connection_rate_exceeded']

function refusalReason (connack: { reasonCode?: number, returnCode?: number }): string | undefined {
  if (typeof connack.reasonCode === 'number') {
    if (connack.reasonCode < 0x80) return undefined
    return REFUSAL_REASONS.get(connack.reasonCode) ?? 'connack_0x' + connack.reasonCode.toString(16)
  }
  if (typeof connack.returnCode !== 'number' || connack.returnCode === 0) return undefined
  return RETURN_CODE_REASONS[connack.returnCode] ?? `connack_${connack.returnCode}`
}

/**
 * Counts the CONNECTs aedes itself refuses (unsupported protocol version, invalid client id,
 * ...): Starling's own CONNECT pipeline counts its refusals with their specific reason
 * (connect-guard.ts), and aedes tells which refusals came from the authenticate hook (our patch).
 */
function countAedesRefusals (broker: Engine, metrics: BrokerMetrics): void {
  broker.on('connackSent', (connack, _client, refusedByAuthenticate) => {
    const reason = refusalReason(connack)
    if (reason === undefined || refusedByAuthenticate) return
    metrics.connectsRefused.inc({ reason })
  })
}

/** Connection, message and error metrics and log lines, from aedes' events. */
export function observeBroker (broker: Engine, metrics: BrokerMetrics, logger: Logger): void {
  /** Each connected client's count and socket, so its disconnect undoes exactly what its connect did. */
  const counted = new WeakMap<Client, { count: ConnectionCount, socket: ByteCountingSocket | undefined }>()

  metrics.store.attachBroker(broker)
  countAedesRefusals(broker, metrics)

  broker.on('client', (client: Client) => {
    const origin = originOf(client)
    const protocol = protocolLabel(client)
    // Behind a PROXY protocol load balancer, remoteAddress is the client's, not the balancer's.
    // Debug, not info: one line per CONNECT cost a pod ~5% of a CONNECT's CPU in a reconnect
    // storm (docs/benchmarks.md "CONNECT cost"); connections are counted in metrics instead.
    // Its fields are built only when the line is written.
    if (logger.isLevelEnabled('debug')) logger.debug({ clientId: client.id, listener: origin.listener, remoteAddress: origin.remoteAddress, remotePort: origin.remotePort, protocol }, 'client connected')
    const conn: unknown = client.conn
    const socket = origin.socket ?? (isByteCounting(conn) ? conn : undefined)
    const count = metrics.connectionCounts.of(origin.listener, protocol)
    counted.set(client, { count, socket })
    if (socket !== undefined) metrics.connectionBytes.open(socket)
    count.open++
    count.accepted++
  })

  broker.on('clientDisconnect', (client: Client) => {
    const entry = counted.get(client)
    if (entry === undefined) return
    counted.delete(client)
    if (entry.socket !== undefined) metrics.connectionBytes.close(entry.socket)
    entry.count.open--
    const reason = client.disconnectReasonCode
    if (typeof reason === 'number' && reason !== 0) {
      metrics.disconnectsByServer.inc({ reason: '0x' + reason.toString(16).padStart(2, '0') })
    }
  })

  broker.on('clientError', (client: Client, err: Error) => {
    metrics.clientErrors.inc({ kind: 'client' })
    logger.debug({ clientId: client.id, err: err.message }, 'client error')
  })

  broker.on('connectionError', (_client: Client, err: Error) => {
    metrics.clientErrors.inc({ kind: 'connection' })
    logger.debug({ err: err.message }, 'connection error before CONNECT completed')
  })

  broker.on('keepaliveTimeout', (client: Client) => {
    logger.debug({ clientId: client.id }, 'keep alive timeout')
  })

  // Messages received (metrics.publishReceived) are counted in aedes' `published` hook (create.ts), not here.

  broker.on('error', (err) => {
    logger.error({ err }, 'broker error')
  })
}
