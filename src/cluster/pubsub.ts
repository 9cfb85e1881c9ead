import { Cluster } from 'ioredis'
import type { RedisClient } from './redis.js'

/**
 * Pub/sub that scales with Redis Cluster's shards. On Redis Cluster a plain PUBLISH is broadcast
 * over the cluster bus to every node, so each shard pays for every message and adding shards adds
 * cost; a sharded SPUBLISH goes only to the shard that owns the channel's slot, and SSUBSCRIBE
 * listens there (Redis ≥ 7.0). Standalone and Sentinel keep plain PUBLISH/SUBSCRIBE (one server,
 * nothing to shard). Every pub/sub channel Starling uses goes through these functions, so all
 * pods of one deployment agree on the kind: a pod on a Cluster client is always sharded.
 *
 * Sharded subscriptions need the subscriber created with `pubsub: true` (createRedisClient: the
 * ioredis Cluster `shardedSubscribers` option, one subscriber connection per master that owns a
 * subscribed slot). One SSUBSCRIBE may only name channels of one slot (else CROSSSLOT), so the
 * channels are subscribed one command each.
 */

/** Whether a client's pub/sub is sharded (it talks to a Redis Cluster). */
export function isSharded (conn: RedisClient): boolean {
  return conn instanceof Cluster
}

/** PUBLISH or SPUBLISH; resolves with the number of subscribers that received it. */
export function publishMessage (conn: RedisClient, sharded: boolean, channel: string, message: string | Buffer): Promise<number> {
  return sharded ? ((conn as Cluster).spublish(channel, message) as Promise<unknown>).then(Number) : conn.publish(channel, message)
}

export async function subscribeChannels (conn: RedisClient, sharded: boolean, channels: readonly string[]): Promise<void> {
  if (channels.length === 0) return
  if (!sharded) {
    await conn.subscribe(...channels)
    return
  }
  const { error } = await ssubscribeEach(conn as Cluster, channels)
  if (error !== undefined) throw error
}

/**
 * Sharded: one SSUBSCRIBE per channel; resolves with the channels whose SSUBSCRIBE failed (their
 * master away, or the slot moved since the slot map was read: MOVED) and the first error, so
 * that only those are tried again.
 */
export async function ssubscribeEach (conn: Cluster, channels: readonly string[]): Promise<{ failed: string[], error?: Error }> {
  const failed: string[] = []
  let error: Error | undefined
  await Promise.all(channels.map(async (channel) => {
    try {
      await conn.ssubscribe(channel)
    } catch (err) {
      failed.push(channel)
      error ??= err as Error
    }
  }))
  return error === undefined ? { failed } : { failed, error }
}

export async function unsubscribeChannels (conn: RedisClient, sharded: boolean, channels: readonly string[]): Promise<void> {
  if (channels.length === 0) return
  if (!sharded) {
    await conn.unsubscribe(...channels)
    return
  }
  await Promise.all(channels.map(async (channel) => await (conn as Cluster).sunsubscribe(channel)))
}

/** Listens for messages of the kind (binary); returns the function that stops listening. */
export function onChannelMessage (conn: RedisClient, sharded: boolean, listener: (channel: Buffer, message: Buffer) => void): () => void {
  const event = sharded ? 'smessageBuffer' : 'messageBuffer'
  conn.on(event, listener)
  return () => { conn.off(event, listener) }
}

/** As onChannelMessage, with the channel and message as strings. */
export function onChannelText (conn: RedisClient, sharded: boolean, listener: (channel: string, message: string) => void): () => void {
  const event = sharded ? 'smessage' : 'message'
  conn.on(event, listener)
  return () => { conn.off(event, listener) }
}
