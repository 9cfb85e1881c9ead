import type { Client, Engine } from '../broker/engine.js'
import { originOf } from '../broker/observe.js'
import { clientIdOf, tenantOf } from '../tenancy/context.js'
import { TRIGGER_TOPICS, type DisconnectReason } from './names.js'
import type { TriggerFields, TriggerPublisher, TriggerSpace } from './publisher.js'

/** What the cluster keeps of each connected client, so a survivor can report it when this pod dies (dead-pods.ts). */
export interface ConnectionLedger {
  connected (internalId: string, entry: LedgerEntry): void
  disconnected (internalId: string): void
}

/** A connection as the ledger keeps it: enough for its `disconnected` event. */
export interface LedgerEntry extends TriggerSpace {
  readonly clientId: string
  readonly remoteAddress?: string
  readonly remotePort?: number
}

const SHARE = '$share/'

/** A filter as the client sent it (the engine hands mounted ones to its events; src/tenancy/mount.ts). */
export function unmountFilter (mount: string, filter: string): string {
  if (mount === '') return filter
  if (filter.startsWith(mount)) return filter.slice(mount.length)
  if (!filter.startsWith(SHARE)) return filter
  const slash = filter.indexOf('/', SHARE.length)
  if (slash === -1 || !filter.startsWith(mount, slash + 1)) return filter
  return filter.slice(0, slash + 1) + filter.slice(slash + 1 + mount.length)
}

export function spaceOf (client: Client): TriggerSpace {
  const tenant = tenantOf(client)
  return { mount: tenant.mount, namespace: tenant.namespace, broker: tenant.broker }
}

function protocolOf (client: Client): string {
  return client.version === 5 ? '5' : client.version === 3 ? '3.1' : '3.1.1'
}

/**
 * Why the engine let go of a client, from what it recorded: a keep-alive timeout (its event came
 * first), a takeover (the id is in the engine's takeover set while the old connection closes,
 * locally or from another pod [MQTT-3.1.4-3]), the client's DISCONNECT, a DISCONNECT the server
 * sent (MQTT 5 reason code), the server closing, or a lost connection.
 */
function reasonOf (engine: Engine, client: Client, timedOut: WeakSet<Client>): { reason: DisconnectReason, reasonCode?: number } {
  if (timedOut.has(client)) return { reason: 'keepalive_timeout' }
  if (engine._takingOver?.has(client.id) === true) return { reason: 'takeover' }
  if (client._disconnected === true) return { reason: 'client_disconnect' }
  const code = client.disconnectReasonCode
  if (typeof code === 'number' && code !== 0) return { reason: 'server_disconnect', reasonCode: code }
  // A drain closes 3.1.1 clients without a DISCONNECT (they have none from the server).
  if (engine.closed) return { reason: 'server_disconnect', reasonCode: 0x8b }
  return { reason: 'connection_lost' }
}

/**
 * `connected`, `disconnected` (with its reason), `subscribe` and `unsubscribe` events of this
 * pod's clients, each published once by this pod. `connected` pairs with `disconnected`: both
 * come from the engine's registration of the client (after CONNECT was accepted) and its removal.
 */
export function publishLifecycleEvents (engine: Engine, publisher: TriggerPublisher, ledger?: ConnectionLedger): void {
  const timedOut = new WeakSet<Client>()
  const base = (client: Client): TriggerFields => {
    const origin = originOf(client)
    return { clientId: clientIdOf(client), ...(origin.remoteAddress !== undefined ? { remoteAddress: origin.remoteAddress } : {}), ...(origin.remotePort !== undefined ? { remotePort: origin.remotePort } : {}) }
  }

  engine.on('client', (client) => {
    const space = spaceOf(client)
    const fields = base(client)
    void publisher.publish(TRIGGER_TOPICS.connected, space, () => ({ ...fields, listener: originOf(client).listener, protocol: protocolOf(client) }))
    ledger?.connected(client.id, { ...space, ...fields, clientId: fields.clientId ?? '' })
  })

  engine.on('keepaliveTimeout', (client) => { timedOut.add(client) })

  engine.on('clientDisconnect', (client) => {
    ledger?.disconnected(client.id)
    void publisher.publish(TRIGGER_TOPICS.disconnected, spaceOf(client), () => ({ ...base(client), ...reasonOf(engine, client, timedOut) }))
  })

  engine.on('subscribe', (subs, client) => {
    // Granted entries only (a refused one has a reason code >= 0x80 [MQTT-3.9.3]).
    const granted = subs.filter((sub) => sub.qos < 0x80)
    if (granted.length === 0) return
    const space = spaceOf(client)
    void publisher.publish(TRIGGER_TOPICS.subscribe, space, { clientId: clientIdOf(client), topics: granted.map((sub) => unmountFilter(space.mount, sub.topic)) })
  })

  engine.on('unsubscribe', (topics, client) => {
    const space = spaceOf(client)
    void publisher.publish(TRIGGER_TOPICS.unsubscribe, space, { clientId: clientIdOf(client), topics: topics.map((topic) => unmountFilter(space.mount, topic)) })
  })
}
