/**
 * Every Redis key and pub/sub channel name Starling uses is built here, under one versioned
 * prefix, so a change of layout bumps `KEY_VERSION` and two layouts never mix in one Redis.
 *
 * Layout (v1):
 *   starling:v1:<aedes-persistence-redis key>   sessions, subscriptions, retained, queues, wills
 *                                               (applied as the ioredis `keyPrefix` of the
 *                                               persistence connection)
 *   starling:v1:bus:<index>                     pub/sub channels carrying MQTT messages between pods
 *                                               (index = hash of the topic's first levels modulo
 *                                               cluster.messageChannels, see emitter-route.ts; not
 *                                               `mq:`, the prefix of mqemitter-redis' per-topic
 *                                               channels, so pods of both layouts never mix)
 *   starling:v1:bus:{<index>.<n>}               the same on Redis Cluster, as sharded channels
 *                                               (SPUBLISH/SSUBSCRIBE, pubsub.ts) spread evenly
 *                                               over the hash slots (emitterShardChannel)
 *   starling:v1:{nodes}:pods                    sorted set of registered pod ids (score: expiry, ms)
 *   starling:v1:{nodes}:pod:<node id>           hash describing one pod, with a TTL (membership)
 *                                               (the `{nodes}` hash tag keeps both in one Cluster slot)
 *   starling:v1:{sessions}:expiry|pods|live:<id> session deadlines, connected MQTT 5 sessions per pod
 *                                               (one slot: the expiry scripts read them together)
 *   starling:v1:session:<client id>             a session that outlives its connection exists
 *   starling:v1:wills:due, wills:owner           delayed wills' deadlines, current will's pod per client
 *   starling:v1:share:groups, share:q:<group>/<filter>, share:new   shared-subscription groups (ZSET),
 *                                               each group's queue (STREAM), new-group announcements (channel)
 *   starling:v1:clients:claim:<client id>       `clientIdConflict: reject` claims (`<pod id>/<token>`)
 *   starling:v1:{tenancy}:namespaces|brokers    HASHes name → namespace JSON, `<ns>/<broker>` → broker JSON
 *                                               (with its sealed signing keys); one slot, so the Lua
 *                                               scripts that keep names unique touch one slot
 *   starling:v1:tenancy:changes                 channel: a namespace or broker changed (re-read it)
 *   starling:v1:{rev:<broker id>}:expiry|on|issued  a broker's revoked jtis (ZSET score: expiry ms or
 *                                               +inf), when each was revoked (HASH), issued tokens'
 *                                               expiries (ZSET) so a revocation lasts as long as its token
 *   starling:v1:auth:revocations                channel: jtis revoked or unrevoked (every pod's local set)
 *   starling:v1:oq:{<client id>}[:p|:m]          a persistent session's queue (outgoing-store.ts)
 *   starling:v1:in:{<client id>}:<packet id>    a QoS 2 PUBLISH received, not yet released (redis-persistence.ts)
 *
 * aedes-persistence-redis 11 writes its own keys under the persistence prefix (`clients`,
 * `client:<id>`, `retained`, `retained:<topic>`, `will`, `will:<pod>:<id>`…); the ones Starling
 * reads or writes directly are named here too (the `plugin…` functions), so a plugin upgrade that
 * moves them is one change.
 *   starling:v1:{trg:<pod id>}:conns            HASH internal client id → JSON of each client connected to one pod
 *                                               ($trigger `disconnected` events of a dead pod's clients, src/events)
 *   starling:v1:{trg:<pod id>}:claimed:<pod>    that HASH renamed by the one survivor that reports it
 *   starling:v1:triggers:pods                   SET of pod ids that may have a `conns` HASH
 *   starling:v1:devices:<broker id>             HASH device name → JSON (scrypt hash of its key) for auth over MQTT
 *   starling:v1:{q:<broker id>}:conns|pods      per-broker quotas (src/quotas): each pod's live connection count
 *                                               (HASH pod → n) and its lease (ZSET pod → expiry ms, Redis clock)
 *   starling:v1:{q:<broker id>}:bucket          cluster-wide token buckets of the rate quotas (HASH)
 *   starling:v1:{q:<broker id>}:m:<minute>|h:<hour>  usage counters (HASH mi, mo, bi, bo) per minute
 *                                               (kept 6 h) and per hour (kept 7 days + 1 h)
 *   starling:v1:{q:<broker id>}:retained        topics retained through a broker with maxRetained set (SET)
 *                                               (one slot per broker: one script per broker and flush)
 */

import { CLUSTER_SLOTS, keySlot } from './slots.js'

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

/** Prefix of the pub/sub channels that carry MQTT messages between pods. */
export function emitterChannelPrefix (): string {
  return `${keyPrefix()}bus:`
}

/** The pub/sub channel of one channel index of the cluster emitter (emitter.ts). */
export function emitterChannel (index: number): string {
  return `${emitterChannelPrefix()}${index}`
}

/** The pub/sub channel on which pods announce which bus channels they listen on (emitter-interest.ts). */
export function emitterControlChannel (): string {
  return `${emitterChannelPrefix()}interest`
}

/**
 * The Redis Cluster (sharded pub/sub) name of bus channel `index` of `channels`:
 * `starling:v1:bus:{<index>.<n>}` with the smallest n whose hash slot falls in the index's
 * share of the 16384 slots (`channels` equal shares, at most 1024). The channels are so spaced
 * evenly over the slot space, and a cluster whose slots are split evenly over its masters (what
 * `redis-cli --cluster create` and `rebalance` do) gets an even share of them on each.
 */
export function emitterShardChannel (index: number, channels: number): string {
  const shares = Math.min(channels, 1024)
  const width = CLUSTER_SLOTS / shares
  const share = index % shares
  const low = Math.floor(share * width)
  const high = Math.floor((share + 1) * width)
  for (let n = 0; ; n++) {
    const name = `${emitterChannelPrefix()}{${index}.${n}}`
    const slot = keySlot(name)
    if (slot >= low && slot < high) return name
  }
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

/** Hash tag of the session-expiry keys: one Redis Cluster slot, so one Lua script can use them all. */
const SESSIONS_TAG = '{sessions}'

/** ZSET of MQTT 5 sessions without a connection, by expiry deadline (ms); relative to the persistence prefix. */
export function sessionExpiryKey (): string {
  return `${SESSIONS_TAG}:expiry`
}

/** HASH client id → Session Expiry Interval (s) of the MQTT 5 clients connected to one pod; relative to the persistence prefix. */
export function sessionLiveKey (podId: string): string {
  return `${SESSIONS_TAG}:live:${podId}`
}

/** SET of the pod ids that have a `sessionLiveKey` hash; relative to the persistence prefix. */
export function sessionPodsKey (): string {
  return `${SESSIONS_TAG}:pods`
}

/**
 * STRING present while a session outlives its connection, with or without subscriptions (so its
 * reconnect gets Session Present 1 [MQTT-3.2.2-2]); removed when the session ends. Relative to
 * the persistence prefix.
 */
export function sessionRecordKey (clientId: string): string {
  return `session:${encodeURIComponent(clientId)}`
}

/**
 * SET of the client ids with a `sessionRecordKey` (limits.maxPersistentSessions counts it with
 * SCARD); relative to the persistence prefix. Not `session:…`, the records' own prefix.
 */
export function sessionRecordsKey (): string {
  return 'session-records'
}

/** ZSET of wills waiting for their Will Delay Interval (member: JSON [pod id, client id], score: due, ms); relative to the persistence prefix. */
export function willDueKey (): string {
  return 'wills:due'
}

/** aedes-persistence-redis 11's LIST of stored will keys (`will:<pod id>:<encoded client id>`); relative to the persistence prefix. */
export function pluginWillListKey (): string {
  return 'will'
}

/** HASH client id → id of the pod that stored the client's current will; relative to the persistence prefix. */
export function willOwnerKey (): string {
  return 'wills:owner'
}

/** Claim one pod takes before publishing a stored will, so it is published once; relative to the persistence prefix. */
export function willClaimKey (brokerId: string, clientId: string): string {
  return `wills:claim:${brokerId}:${encodeURIComponent(clientId)}`
}

/**
 * ZSET of the retained topic names (score 0: ordered bytewise) for wildcard lookups
 * (src/cluster/retained-index.ts); relative to the persistence prefix. Not `retained:…`: with
 * Redis Cluster the plugin keeps each retained message at `retained:<encoded topic>`.
 */
export function retainedIndexKey (): string {
  return 'retained-index'
}

/** Lock the pod building the retained index holds (with a TTL); relative to the persistence prefix. */
export function retainedIndexLockKey (): string {
  return 'retained-index:lock'
}

/** Redis Cluster: set once the retained index holds every retained topic; relative to the persistence prefix. */
export function retainedIndexBuiltKey (): string {
  return 'retained-index:built'
}

/** STRING: payload bytes of all retained messages (limits.maxRetainedBytes); relative to the persistence prefix. */
export function retainedBytesKey (): string {
  return 'retained-bytes'
}

/** Standalone/Sentinel: HASH topic → payload bytes of its retained message (keeps `retainedBytesKey` exact); relative to the persistence prefix. */
export function retainedSizesKey (): string {
  return 'retained-sizes'
}

/** Redis Cluster: STRING payload bytes of one topic's retained message; relative to the persistence prefix. */
export function retainedSizeKey (topic: string): string {
  return `retained-size:${encodeURIComponent(topic)}`
}

/**
 * Claim of one client id by one connection (`clientIdConflict: reject`): a STRING `<pod id>/<token>`;
 * relative to the persistence prefix.
 */
export function clientClaimKey (clientId: string): string {
  return `clients:claim:${encodeURIComponent(clientId)}`
}

/** ZSET of shared-subscription group keys (`<group>/<filter>`), scored by when a pod with a member last renewed it (ms). */
export function shareGroupsKey (): string {
  return `${keyPrefix()}share:groups`
}

/** STREAM holding one shared-subscription group's queue (consumer group `starling`, one consumer per pod). */
export function shareStreamKey (groupKey: string): string {
  return `${keyPrefix()}share:q:${groupKey}`
}

/** Pub/sub channel on which a pod announces a new shared-subscription group to the others. */
export function shareGroupsChannel (): string {
  return `${keyPrefix()}share:new`
}

/** Hash tag of the tenancy keys: one Redis Cluster slot, so one script sees namespaces and brokers together. */
const TENANCY_TAG = '{tenancy}'

/** HASH namespace name → namespace JSON (src/tenancy/redis-backend.ts). */
export function tenancyNamespacesKey (): string {
  return `${keyPrefix()}${TENANCY_TAG}:namespaces`
}

/** HASH `<namespace>/<broker>` → broker JSON, signing keys sealed with auth.secretKey. */
export function tenancyBrokersKey (): string {
  return `${keyPrefix()}${TENANCY_TAG}:brokers`
}

/** Channel on which a pod announces a changed namespace or broker, so every pod's cache re-reads it. */
export function tenancyChangesChannel (): string {
  return `${keyPrefix()}tenancy:changes`
}

/** Hash tag of one broker's revocation keys (one slot per broker). */
function revocationTag (brokerId: string): string {
  return `{rev:${brokerId}}`
}

/** ZSET revoked jti → when the revocation may be forgotten (the token's expiry, ms; +inf: never). */
export function revocationExpiryKey (brokerId: string): string {
  return `${keyPrefix()}${revocationTag(brokerId)}:expiry`
}

/** HASH revoked jti → when it was revoked (ISO 8601). */
export function revocationTimesKey (brokerId: string): string {
  return `${keyPrefix()}${revocationTag(brokerId)}:on`
}

/** ZSET jti → expiry (ms) of the broker's issued tokens that expire, pruned once expired. */
export function issuedTokensKey (brokerId: string): string {
  return `${keyPrefix()}${revocationTag(brokerId)}:issued`
}

/** Channel carrying revocations (and unrevocations) to every pod's local revocation set. */
export function revocationsChannel (): string {
  return `${keyPrefix()}auth:revocations`
}

/**
 * The keys of a persistent session's queue, one hash tag (one Redis Cluster slot): LIST of refs,
 * HASH ref → packet and packet id ↔ ref, and the HASH packet id ↔ ref of an older layout (moved
 * into the second on first use, deleted with the queue); relative to the persistence prefix.
 */
export function outgoingQueueKeys (clientId: string): [list: string, packets: string, ids: string] {
  const list = `oq:{${encodeURIComponent(clientId)}}`
  return [list, `${list}:p`, `${list}:m`] // the script (outgoing-script.ts) derives the last two from the first
}

/**
 * A QoS 2 PUBLISH received and not yet released (PUBREL), per client and packet id; relative to
 * the persistence prefix. Under the client's queue hash tag (one slot per client), so a client's
 * PUBRELs read their packets from one Redis Cluster master, over one connection, in order: the
 * plugin's `incoming:<id>:<packet id>` spread them over the shards, and the replies (hence the
 * deliveries) could come back out of order [MQTT-4.6.0-5].
 */
export function incomingPacketKey (clientId: string, messageId: number | undefined): string {
  return `in:{${encodeURIComponent(clientId)}}:${String(messageId)}`
}

/** aedes-persistence-redis 11's SET of the ids of sessions with stored subscriptions; relative to the persistence prefix. */
export function pluginSessionsKey (): string {
  return 'clients'
}

/** aedes-persistence-redis 11's HASH of one session's subscriptions; relative to the persistence prefix. */
export function pluginClientKey (clientId: string): string {
  return `client:${encodeURIComponent(clientId)}`
}

/** aedes-persistence-redis 11's HASH topic → retained message (standalone and Sentinel); relative to the persistence prefix. */
export function pluginRetainedHashKey (): string {
  return 'retained'
}

/** Prefix of aedes-persistence-redis 11's per-topic retained keys (Redis Cluster); relative to the persistence prefix. */
export function pluginRetainedKeyPrefix (): string {
  return 'retained:'
}

/** aedes-persistence-redis 11's key of one retained message (Redis Cluster); relative to the persistence prefix. */
export function pluginRetainedKey (topic: string): string {
  return `${pluginRetainedKeyPrefix()}${encodeURIComponent(topic)}`
}

/** The retained topic of a `pluginRetainedKey` (the key as SCAN returns it, with `fullPrefix` = connection prefix + pluginRetainedKeyPrefix()). */
export function topicOfPluginRetainedKey (key: string, fullPrefix: string): string {
  return decodeURIComponent(key.slice(fullPrefix.length))
}

/** aedes-persistence-redis 11's key of one stored will, as listed in `pluginWillListKey`; relative to the persistence prefix. */
export function pluginWillKey (podId: string, clientId: string): string {
  return `${pluginWillListKey()}:${podId}:${encodeURIComponent(clientId)}`
}

/** The pod id in a `pluginWillKey` (pod ids have no ':'). */
export function podOfPluginWillKey (key: string): string {
  return key.split(':')[1] ?? ''
}

/** Hash tag of one broker's quota keys: one slot, so one script reads and writes them together. */
function quotaTag (brokerId: string): string {
  return `{q:${brokerId}}`
}

/** HASH pod id → the pod's live connections of the broker. */
export function quotaConnectionsKey (brokerId: string): string {
  return `${keyPrefix()}${quotaTag(brokerId)}:conns`
}

/** ZSET pod id → when the pod's connection count stops counting (ms, Redis clock) unless renewed. */
export function quotaLeasesKey (brokerId: string): string {
  return `${keyPrefix()}${quotaTag(brokerId)}:pods`
}

/** HASH of the broker's cluster-wide token buckets (publish rate, bytes per second). */
export function quotaBucketKey (brokerId: string): string {
  return `${keyPrefix()}${quotaTag(brokerId)}:bucket`
}

/** HASH of the broker's usage counters in one minute (`minute`: minutes since the epoch). */
export function usageMinuteKey (brokerId: string, minute: number): string {
  return `${keyPrefix()}${quotaTag(brokerId)}:m:${minute}`
}

/** HASH of the broker's usage counters in one hour (`hour`: hours since the epoch). */
export function usageHourKey (brokerId: string, hour: number): string {
  return `${keyPrefix()}${quotaTag(brokerId)}:h:${hour}`
}

/** SET of the topics retained through the broker while it has a maxRetained quota. */
export function quotaRetainedKey (brokerId: string): string {
  return `${keyPrefix()}${quotaTag(brokerId)}:retained`
}

/** HASH internal client id → connection JSON of one pod's clients ($trigger events when it dies); relative to the persistence prefix. */
export function triggerConnectionsKey (podId: string): string {
  return `{trg:${podId}}:conns`
}

/** The pod's connections HASH once a survivor claimed it (RENAME: one survivor wins); same slot as triggerConnectionsKey. */
export function triggerClaimedKey (podId: string, claimer: string): string {
  return `{trg:${podId}}:claimed:${claimer}`
}

/** SET of the pod ids that may have a triggerConnectionsKey HASH; relative to the persistence prefix. */
export function triggerPodsKey (): string {
  return 'triggers:pods'
}

/** HASH device name → device JSON (its key's scrypt hash) of one broker, for auth over MQTT (src/mqtt-auth). */
export function devicesKey (brokerId: string): string {
  return `${keyPrefix()}devices:${brokerId}`
}
