/**
 * Every Redis key and pub/sub channel name Starling uses is built here, under one versioned
 * prefix, so a change of layout bumps `KEY_VERSION` and two layouts never mix in one Redis.
 *
 * Layout (v1):
 *   starling:v1:<aedes-persistence-redis key>   sessions, subscriptions, retained, queues, wills
 *                                               (applied as the ioredis `keyPrefix` of the
 *                                               persistence connection)
 *   starling:v1:mq:<MQTT topic>                 mqemitter-redis channels (messages between pods)
 *   starling:v1:{nodes}:pods                    sorted set of registered pod ids (score: expiry, ms)
 *   starling:v1:{nodes}:pod:<node id>           hash describing one pod, with a TTL (membership)
 *                                               (the `{nodes}` hash tag keeps both in one Cluster slot)
 */

export const KEY_NAMESPACE = 'starling'
export const KEY_VERSION = 'v1'

/** Prefix of every key this version of Starling writes. */
export function keyPrefix (): string {
  return `${KEY_NAMESPACE}:${KEY_VERSION}:`
}

/** ioredis `keyPrefix` of the connection aedes-persistence-redis writes through. */
export function persistenceKeyPrefix (): string {
  return keyPrefix()
}

/** Prefix of the pub/sub channels that carry MQTT messages between pods (one channel per topic). */
export function emitterChannelPrefix (): string {
  return `${keyPrefix()}mq:`
}

/** Hash tag shared by the membership keys, so a pod's MULTI touches one Redis Cluster slot. */
const NODES_TAG = '{nodes}'

/** Sorted set of the ids of registered pods (score: when the entry expires, ms since epoch). */
export function clusterMembersKey (): string {
  return `${keyPrefix()}${NODES_TAG}:pods`
}

/** Hash describing one pod; it expires unless the pod's heartbeat renews it. */
export function clusterMemberKey (nodeId: string): string {
  return `${keyPrefix()}${NODES_TAG}:pod:${nodeId}`
}

/** ZSET of disconnected MQTT 5 sessions by expiry deadline (ms); relative to the persistence prefix. */
export function sessionExpiryKey (): string {
  return 'sessions:expiry'
}

/** HASH client id → id of the pod that stored the client's current will; relative to the persistence prefix. */
export function willOwnerKey (): string {
  return 'wills:owner'
}

/** Claim one pod takes before publishing a stored will, so it is published once; relative to the persistence prefix. */
export function willClaimKey (brokerId: string, clientId: string): string {
  return `wills:claim:${brokerId}:${encodeURIComponent(clientId)}`
}

/** aedes-persistence-redis 11's offline queue of a client (a LIST of packet keys); relative to the persistence prefix. */
export function pluginOutgoingKey (clientId: string): string {
  return `outgoing:${encodeURIComponent(clientId)}`
}

/** aedes-persistence-redis 11's count of queues still holding a queued packet, for a packet key. */
export function pluginPacketCountKey (packetKey: string): string {
  return `${packetKey}:offlineCount`
}

/** HASH client id → id of the pod its connection is on (`clientIdConflict: reject`); relative to the persistence prefix. */
export function clientOwnerKey (): string {
  return 'clients:owner'
}
