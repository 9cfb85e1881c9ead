import type { Aedes, Client } from 'aedes'
import type { Logger } from '../logger.js'
import { pluginOutgoingKey, pluginPacketCountKey, sessionExpiryKey } from './keys.js'
import type { RedisClient } from './redis.js'

/** 0xFFFFFFFF: the session does not expire (MQTT 5 §3.1.2.11.2). */
const NEVER_EXPIRES = 0xFFFFFFFF
/** Sessions one sweep claims at most (the next sweep takes the rest). */
const SWEEP_BATCH = 100

/** Atomically takes the sessions whose deadline has passed: each one is claimed by exactly one pod. */
const CLAIM_EXPIRED = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZREM', KEYS[1], id) end
return ids`

interface AedesSessionInternals {
  closed: boolean
  readonly _takingOver: Set<string>
  readonly clients: Record<string, Client | undefined>
  readonly persistence: {
    cleanSubscriptions (client: { id: string }): Promise<void>
  }
  scheduleSessionExpiry (client: Client): void
  clearSessionExpiry (clientId: string): void
  _wipeSession (client: Client): void
}

export interface SessionExpiryOptions {
  readonly redis: RedisClient
  readonly logger: Logger
  /** How often this pod looks for expired sessions, in milliseconds. */
  readonly sweepMs: number
}

/**
 * MQTT 5 Session Expiry across the cluster. aedes times a disconnected session with a timer in
 * the pod the client left (`scheduleSessionExpiry`): lost when that pod dies (the session then
 * never expires), and blind to a reconnect on another pod (the timer then wipes a session that
 * is live elsewhere — with a longer interval given in DISCONNECT this is what lost sessions).
 * Here the deadline is stored in Redis when the client leaves, removed when the client id
 * connects on any pod, and every pod sweeps deadlines that have passed; a Lua claim gives each
 * expired session to exactly one pod, which wipes its subscriptions and offline queue.
 * MQTT 3.1.1 sessions keep their rules: clean ones end with the connection, others never expire.
 */
export class ClusterSessionExpiry {
  readonly #broker: AedesSessionInternals
  readonly #options: SessionExpiryOptions
  readonly #timer: NodeJS.Timeout
  #sweeping = false

  constructor (broker: Aedes, options: SessionExpiryOptions) {
    this.#broker = broker as unknown as AedesSessionInternals
    this.#options = options
    const internals = this.#broker
    const originalClear = internals.clearSessionExpiry.bind(internals)
    internals.scheduleSessionExpiry = (client) => { this.#schedule(client) }
    internals.clearSessionExpiry = (clientId) => {
      originalClear(clientId)
      this.#redisCall('clear', options.redis.zrem(sessionExpiryKey(), clientId))
    }
    this.#timer = setInterval(() => { void this.sweep() }, options.sweepMs)
    this.#timer.unref()
  }

  /** Stops sweeping (a draining pod still records the deadlines of the clients it closes). */
  stop (): void {
    clearInterval(this.#timer)
  }

  #schedule (client: Client): void {
    const broker = this.#broker
    const c = client as unknown as { version: number, sessionExpiryInterval: number }
    if (c.version !== 5 || broker._takingOver.has(client.id)) return
    const interval = c.sessionExpiryInterval
    if (interval === 0) {
      // The session ends with the connection [MQTT-3.1.2-23].
      broker._wipeSession(client)
      this.#redisCall('end', this.#options.redis.zrem(sessionExpiryKey(), client.id))
      return
    }
    if (interval >= NEVER_EXPIRES) {
      this.#redisCall('keep', this.#options.redis.zrem(sessionExpiryKey(), client.id))
      return
    }
    this.#redisCall('schedule', this.#options.redis.zadd(sessionExpiryKey(), Date.now() + interval * 1000, client.id))
  }

  /** One sweep: claims the sessions past their deadline and wipes them. Returns the ids wiped. */
  async sweep (): Promise<string[]> {
    if (this.#sweeping || this.#broker.closed) return []
    this.#sweeping = true
    try {
      const ids = await this.#options.redis.eval(CLAIM_EXPIRED, 1, sessionExpiryKey(), Date.now(), SWEEP_BATCH) as string[]
      const wiped: string[] = []
      for (const id of ids) {
        // Connected here after all (the deadline is cleared on connect; this is a late race).
        if (this.#broker.clients[id] !== undefined) continue
        await this.#wipe(id)
        wiped.push(id)
      }
      if (wiped.length > 0) this.#options.logger.info({ clients: wiped.length }, 'expired sessions wiped')
      return wiped
    } catch (err) {
      this.#options.logger.warn({ err: (err as Error).message }, 'session expiry sweep failed')
      return []
    } finally {
      this.#sweeping = false
    }
  }

  /** Removes an expired session's subscriptions (all pods' routing) and its offline queue. */
  async #wipe (clientId: string): Promise<void> {
    const redis = this.#options.redis
    await this.#broker.persistence.cleanSubscriptions({ id: clientId })
    const listKey = pluginOutgoingKey(clientId)
    const queued = await redis.lrange(listKey, 0, -1)
    await redis.del(listKey)
    for (const key of queued) {
      // QoS 2 entries in flight are per-client copies `outgoing:<id>:<pod>:<counter>` of `packet:<pod>:<counter>`.
      const packetKey = key.startsWith('packet:') ? key : `packet:${key.split(':').slice(-2).join(':')}`
      if (packetKey !== key) await redis.del(key)
      if (await redis.decr(pluginPacketCountKey(packetKey)) <= 0) {
        await redis.del(packetKey)
        await redis.del(pluginPacketCountKey(packetKey))
      }
    }
  }

  #redisCall (what: string, call: Promise<unknown>): void {
    call.catch((err: Error) => this.#options.logger.warn({ err: err.message, what }, 'session expiry bookkeeping failed'))
  }
}
