import type { Aedes, Client } from 'aedes'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from '../metrics/registry.js'
import { countPublishSent } from './outbound.js'

/** Where a connection came in, stamped by the listener on the request aedes keeps as `client.req`. */
export interface ConnectionOrigin {
  readonly listener: string
  readonly remoteAddress?: string
  readonly remotePort?: number
}

export function originOf (client: Client): ConnectionOrigin {
  const req = (client as unknown as { req?: { starling?: ConnectionOrigin } }).req
  return req?.starling ?? { listener: 'unknown' }
}

function protocolLabel (client: Client): string {
  return client.version === 5 ? '5' : client.version === 3 ? '3.1' : '3.1.1'
}

/** Connection and error metrics and log lines, from aedes' events. */
export function observeBroker (broker: Aedes, metrics: BrokerMetrics, logger: Logger): void {
  const counted = new WeakSet<Client>()

  broker.on('client', (client: Client) => {
    const origin = originOf(client)
    const labels = { listener: origin.listener, protocol: protocolLabel(client) }
    // Behind a PROXY protocol load balancer, remoteAddress is the client's, not the balancer's.
    logger.info({ clientId: client.id, listener: origin.listener, remoteAddress: origin.remoteAddress, remotePort: origin.remotePort, protocol: labels.protocol }, 'client connected')
    counted.add(client)
    metrics.connections.inc(labels)
    metrics.connectionsTotal.inc(labels)
  })

  broker.on('clientDisconnect', (client: Client) => {
    if (!counted.delete(client)) return
    metrics.connections.dec({ listener: originOf(client).listener, protocol: protocolLabel(client) })
    const reason = (client as unknown as { disconnectReasonCode?: number | null }).disconnectReasonCode
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

  // Per-message hot path: a plain array slot, folded into the counter when it is read (see
  // countPublishSent), instead of prom-client's label hashing on every PUBLISH.
  const countReceived = countPublishSent(metrics.messagesReceived)
  broker.on('publish', (packet, client: Client | null) => {
    if (client) countReceived(client, packet)
  })

  ;(broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) => {
    logger.error({ err }, 'broker error')
  })
}
