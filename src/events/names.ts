/**
 * `$trigger/...` event topics (ClearBlade's names where it has them). They start with `$`, so no
 * filter starting with a wildcard matches them [MQTT-4.7.2-1]: a client sees them only through a
 * filter naming `$trigger` (or `$share/<group>/$trigger/...`), which needs an explicit ACL grant
 * (acl.ts). Inside a tenant broker they live in its topic space, `$t/<broker id>/$trigger/...`.
 */

export const TRIGGER_ROOT = '$trigger'

export const TRIGGER_TOPICS = {
  /** A credential was issued (the API's credentials route, a device registered, auth over MQTT). */
  deviceCreated: '$trigger/device/created',
  /** Token ids revoked through the API. */
  deviceRevoked: '$trigger/device/revoked',
  /** A device registration (auth over MQTT) was deleted. */
  deviceDeleted: '$trigger/device/deleted',
  connected: '$trigger/messaging/device/connected',
  disconnected: '$trigger/messaging/device/disconnected',
  subscribe: '$trigger/messaging/subscribe',
  unsubscribe: '$trigger/messaging/unsubscribe'
} as const

export type TriggerTopic = typeof TRIGGER_TOPICS[keyof typeof TRIGGER_TOPICS]

/** Why a connection ended, as `disconnected` events say it. */
export type DisconnectReason =
  | 'client_disconnect' // the client sent DISCONNECT
  | 'keepalive_timeout' // nothing from the client within 1.5 × Keep Alive [MQTT-3.1.2-24]
  | 'takeover' // another connection with the same client id [MQTT-3.1.4-3]
  | 'server_disconnect' // the server sent DISCONNECT (`reasonCode`), MQTT 5 only
  | 'connection_lost' // the network connection closed without DISCONNECT
  | 'pod_died' // the pod holding it stopped (published by a survivor)

/** Is this (client's own, unmounted) topic or filter inside `$trigger`? */
export function isTriggerTopic (topic: string): boolean {
  return topic === TRIGGER_ROOT || topic.startsWith(TRIGGER_ROOT + '/')
}
