import type { Aedes, Client } from 'aedes'
import type { Logger } from '../logger.js'
import { clientOwnerKey } from './keys.js'
import type { RedisClient } from './redis.js'

/** Deletes a hash field only while it still names the given pod. */
const HDEL_IF_EQUAL = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end return 0"

/**
 * Which pod each connected MQTT client id is on, cluster-wide (`clientIdConflict: reject`).
 * A pod records its clients once aedes has registered them and removes them when they go; an
 * entry naming a pod that is no longer a live member (killed) counts as free and is replaced
 * by the next connection with that id.
 */
export interface ClusterClientIds {
  /** The id of another live pod holding a connection with this client id, if any. */
  ownerElsewhere (clientId: string): Promise<string | undefined>
}

export interface ClientIdDeps {
  /** The persistence connection (keys relative to the persistence prefix). */
  readonly redis: RedisClient
  readonly nodeId: string
  readonly logger: Logger
  /** Whether a pod is a live cluster member (the membership registry). */
  readonly isLive: (podId: string) => Promise<boolean>
}

export function trackClientIds (broker: Aedes, deps: ClientIdDeps): ClusterClientIds {
  const { redis, nodeId, logger } = deps
  const key = clientOwnerKey()
  const failed = (what: string) => (err: Error): void => logger.warn({ err: err.message }, `client id registry: ${what} failed`)
  broker.on('client', (client: Client) => {
    redis.hset(key, client.id, nodeId).catch(failed('register'))
  })
  broker.on('clientDisconnect', (client: Client) => {
    // A takeover on this pod replaces the client: the id stays registered here.
    if ((broker as unknown as { clients: Record<string, Client> }).clients[client.id] !== undefined) return
    redis.eval(HDEL_IF_EQUAL, 1, key, client.id, nodeId).catch(failed('unregister'))
  })
  return {
    async ownerElsewhere (clientId) {
      const owner = await redis.hget(key, clientId)
      if (owner === null || owner === nodeId) return undefined
      if (await deps.isLive(owner)) return owner
      // The owner died without unregistering its clients: its entries are free.
      await redis.eval(HDEL_IF_EQUAL, 1, key, clientId, owner)
      return undefined
    }
  }
}
