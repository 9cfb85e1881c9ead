import { randomBytes } from 'node:crypto'
import type { Client, Engine } from '../broker/engine.js'
import type { Logger } from '../logger.js'
import { clientClaimKey } from './keys.js'
import type { RedisClient } from './redis.js'

/** Sets the claim unless one exists; returns the existing holder (nil when this call took it). */
const CLAIM = "local v = redis.call('GET', KEYS[1]) if v then return v end redis.call('SET', KEYS[1], ARGV[1]) return false"
/** Replaces a stale holder, only while it is still the one that was judged stale. */
const REPLACE = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0"
/** Deletes the claim only while it is still this connection's. */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
/** Stale holders replaced in a row at most before giving up (each replacement races other pods). */
const ATTEMPTS = 3

/**
 * Cluster-wide client ids under `clientIdConflict: reject`: a CONNECT passes only if its
 * connection takes the id's claim, a Redis string `<pod id>/<token>` set atomically when absent
 * (Lua GET-or-SET), so of two simultaneous CONNECTs on two pods exactly one wins.
 * The claim is released (compare-and-delete of the token) when that connection ends, whether
 * it was registered or refused later on. Its lease is the holder pod's membership entry, which
 * the pod's heartbeat renews: a claim whose pod has left the membership (killed) is stale and is
 * replaced by the next CONNECT, as is one of this pod's own ended connections (e.g. from a
 * previous run of a pod with the same id). One lease per pod instead of one per client keeps the
 * renewal cost independent of the number of clients.
 */
export interface ClusterClientIds {
  /** Takes the client id for this connection; false when a live connection elsewhere holds it. */
  claim (client: Client): Promise<boolean>
}

export interface ClientIdDeps {
  /** The persistence connection (keys relative to the persistence prefix). */
  readonly redis: RedisClient
  readonly nodeId: string
  readonly logger: Logger
  /** Whether a pod is a live cluster member (the membership registry). */
  readonly isLive: (podId: string) => Promise<boolean>
}

type ClaimingClient = Client & { readonly closed: boolean }

export function trackClientIds (broker: Engine, deps: ClientIdDeps): ClusterClientIds {
  const { redis, nodeId, logger } = deps
  /** Claims this pod holds: token → its connection. */
  const held = new Map<string, ClaimingClient>()
  const tokens = new WeakMap<Client, string>()
  const prefix = `${nodeId}/${randomBytes(6).toString('hex')}.`
  let counter = 0

  const release = (client: Client): void => {
    const token = tokens.get(client)
    if (token === undefined || !held.has(token)) return
    held.delete(token)
    redis.eval(RELEASE, 1, clientClaimKey(client.id), token)
      .catch((err: Error) => logger.warn({ err: err.message, clientId: client.id }, 'client id claim: release failed'))
  }
  broker.on('clientDisconnect', release)

  /** Whether the holder of a claim is gone: its pod is dead, or it is one of this pod's ended connections. */
  const stale = async (holder: string): Promise<boolean> => {
    const pod = holder.slice(0, holder.indexOf('/'))
    if (pod === nodeId) {
      const owner = held.get(holder)
      return owner === undefined || owner.closed
    }
    return !await deps.isLive(pod)
  }

  return {
    async claim (candidate) {
      const client = candidate as ClaimingClient
      const key = clientClaimKey(client.id)
      const token = `${prefix}${++counter}`
      let taken = false
      for (let attempt = 0; attempt < ATTEMPTS && !taken; attempt++) {
        const holder = await redis.eval(CLAIM, 1, key, token) as string | null
        if (holder === null) { taken = true; break }
        if (!await stale(holder)) return false
        logger.debug({ clientId: client.id, holder }, 'client id claim: replacing a stale holder')
        taken = await redis.eval(REPLACE, 1, key, holder, token) === 1
      }
      if (!taken) return false
      held.set(token, client)
      tokens.set(client, token)
      // Released when the connection ends, also if a later CONNECT step refuses it.
      if (client.closed) release(client)
      // on(), not once(): a socket closes once, and once()'s wrapper costs ~0.15 KB per idle connection
      else client.conn.on('close', () => release(client))
      return true
    }
  }
}
