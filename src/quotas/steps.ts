import type { Client, Engine, PublishPacket } from '../broker/engine.js'
import type { ConnectStep } from '../broker/connect-guard.js'
import { StarlingError } from '../errors.js'
import type { ConnectionQuotas, QuotaBroker, QuotaEngine } from './engine.js'

/**
 * The quota engine as the MQTT broker uses it (createBroker's optional `quotas`):
 *   - `connectStep`, last in the CONNECT pipeline (after the tenant and token steps, so the
 *     client's broker is known): CONNACK 0x97 Quota exceeded (3.1.1: 3 Server unavailable)
 *     beyond maxConnections [MQTT5 3.2.2.2]; the slot is given back when the connection closes,
 *     whatever way (refused later, never registered, disconnected, taken over);
 *   - `authorizePublish`, after the ACL: beyond publishRatePerSecond or bytesPerSecond a
 *     PUBLISH is refused with STARLING_ERR_QUOTA_*: QoS 1/2 get PUBACK/PUBREC 0x97 Quota
 *     exceeded (MQTT 5; 0x96 Message rate too high is not among the acknowledgement codes of
 *     [MQTT5 3.4.2.1], only DISCONNECT's), QoS 0 is dropped; 3.1.1 clients are
 *     acknowledged normally and the message dropped, as an ACL refusal is [MQTT-3.3.5-2];
 *     a retained PUBLISH for a new topic beyond maxRetained is delivered but not retained
 *     (EMQX's rule: an already retained topic may still be replaced);
 *   - `publishSent`, composed into the engine's `onPublishSent` option: deliveries counted per
 *     broker (usage "messages out");
 *   - `attach(broker)`: the broker's clients (a takeover on the same pod needs no new slot).
 */
export interface QuotaHooks {
  readonly connectStep: ConnectStep
  authorizePublish (client: Client, packet: PublishPacket, callback: (error?: Error | null) => void): void
  publishSent (client: Client, packet: { payload?: { length: number } | null }): void
  attach (broker: Engine): void
}

/** The broker a client belongs to (the tenant context); undefined: no quotas apply. */
export type BrokerOf = (client: Client) => QuotaBroker | undefined

export function quotaSteps (engine: QuotaEngine, brokerOf: BrokerOf): QuotaHooks {
  let clients: Readonly<Record<string, Client>> = {}
  /**
   * The counters of the broker each admitted client was counted for (its PUBLISH packets and
   * deliveries are counted against it too). A client's broker is decided once, at CONNECT.
   */
  const admitted = new WeakMap<Client, ConnectionQuotas>()

  const connectStep: ConnectStep = function enforceBrokerQuotas (ctx) {
    const broker = brokerOf(ctx.client)
    if (broker === undefined) return
    const view = ctx.client
    const existing = clients[view.id]
    const replacing = existing !== undefined && existing !== ctx.client && !existing.closed
    return engine.admitConnection(broker, { replacing }).then((refusal) => {
      if (refusal !== undefined) throw new StarlingError('STARLING_ERR_QUOTA_CONNECTIONS', [`${broker.namespace}/${broker.name}`, broker.quotas.maxConnections])
      admitted.set(ctx.client, engine.connectionQuotas(broker))
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        engine.releaseConnection(broker)
      }
      if (view.closed || view.conn === undefined || view.conn.destroyed === true) release()
      // on(), not once(): a socket closes once, and once()'s wrapper costs ~0.15 KB per idle connection
      else view.conn.on('close', release)
    })
  }

  function authorizePublish (client: Client, packet: PublishPacket, callback: (error?: Error | null) => void): void {
    // Not admitted by connectStep: its CONNECT named no broker (no quotas apply).
    const quotas = admitted.get(client)
    if (quotas === undefined) { callback(null); return }
    const broker = quotas.broker
    const bytes = packet.payload?.length ?? 0
    const refusal = quotas.admitPublish(bytes)
    if (refusal === 'publish_rate') { callback(new StarlingError('STARLING_ERR_QUOTA_PUBLISH_RATE', [`${broker.namespace}/${broker.name}`, broker.quotas.publishRatePerSecond])); return }
    if (refusal === 'bytes_per_second') { callback(new StarlingError('STARLING_ERR_QUOTA_BYTES_RATE', [`${broker.namespace}/${broker.name}`, broker.quotas.bytesPerSecond])); return }
    if (!packet.retain || broker.quotas.maxRetained <= 0) { callback(null); return }
    engine.admitRetained(broker, packet.topic, bytes === 0).then((retain) => {
      // Delivered either way; not stored as the topic's retained message.
      if (!retain) packet.retain = false
      callback(null)
    }, (err: unknown) => callback(err as Error))
  }

  function publishSent (client: Client, packet: { payload?: { length: number } | null }): void {
    admitted.get(client)?.delivered(packet.payload?.length ?? 0)
  }

  function attach (broker: Engine): void {
    clients = broker.clients
  }

  return { connectStep, authorizePublish, publishSent, attach }
}
