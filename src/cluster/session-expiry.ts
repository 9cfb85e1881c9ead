import type { Client, Engine } from '../broker/engine.js'
import { SESSION_NEVER_EXPIRES } from '../constants.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import { sessionExpiryKey, sessionLiveKey, sessionPodsKey } from './keys.js'
import type { RedisClient } from './redis.js'
import type { PodLiveness } from './pod-liveness.js'
import { Sweeper } from '../util/sweeper.js'

/**
 * Sessions timed here: MQTT 5 ones, and 3.1.1 persistent ones (Clean Session 0), which expire
 * after `limits.maxSessionExpirySeconds` (aedes clamps their "never" to it) [MQTT-3.1.2-4].
 */
export function hasSessionExpiry (client: Pick<Client, 'version' | 'clean'>): boolean {
  return client.version === 5 || !client.clean
}

/** Sessions one sweep claims at most (the next sweep takes the rest). */
const SWEEP_BATCH = 100

/**
 * Shared head of the scripts below. KEYS: expiry ZSET, pods SET, then the live hash of every pod
 * in ARGV[first..] (all one `{sessions}` slot). The caller read the pods SET just before: when a
 * pod has been added since, the script answers 'retry' instead of missing its hash.
 * `connected(id)`: the client id is connected on some pod (in a live hash).
 */
const WITH_LIVE_HASHES = `
local given = {}
for i = FIRST_POD_ARG, #ARGV do given[ARGV[i]] = true end
for _, pod in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if not given[pod] then return 'retry' end
end
local function connected (id, skip)
  for k = 3, #KEYS do
    if k ~= skip and redis.call('HEXISTS', KEYS[k], id) == 1 then return true end
  end
  return false
end
`

/**
 * Atomically takes the sessions whose deadline has passed: each one is claimed by exactly one
 * pod. A session whose client id is connected on some pod meanwhile loses its deadline instead.
 * ARGV: now, batch size, pod ids.
 */
const CLAIM_EXPIRED = WITH_LIVE_HASHES.replace('FIRST_POD_ARG', '3') + `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local expired = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  if not connected(id, 0) then expired[#expired + 1] = id end
end
return expired`

/**
 * A dead pod's connected sessions, taken by exactly one pod: each one not connected elsewhere
 * meanwhile gets the deadline now + its Session Expiry Interval (the loss is dated at detection).
 * ARGV: dead pod id, now, pod ids (the dead one included; its hash is KEYS[3 + its index]).
 */
const CLAIM_DEAD_POD = WITH_LIVE_HASHES.replace('FIRST_POD_ARG', '3') + `
local dead = 0
for i = 3, #ARGV do if ARGV[i] == ARGV[1] then dead = i end end
if dead == 0 then return 0 end
local entries = redis.call('HGETALL', KEYS[dead])
redis.call('DEL', KEYS[dead])
redis.call('SREM', KEYS[2], ARGV[1])
local now = tonumber(ARGV[2])
local count = 0
for i = 1, #entries, 2 do
  local id, interval = entries[i], tonumber(entries[i + 1])
  if interval < ${SESSION_NEVER_EXPIRES} and not connected(id, dead) then
    redis.call('ZADD', KEYS[1], string.format('%d', now + interval * 1000), id)
    count = count + 1
  end
end
return count`

export interface SessionExpiryOptions {
  readonly redis: RedisClient
  readonly logger: Logger
  /** How often this pod looks for expired sessions and dead pods, in milliseconds. */
  readonly sweepMs: number
  /** This pod's id (its live-session hash). */
  readonly nodeId: string
  readonly liveness: PodLiveness
  /** Called once a session has ended by expiry: its will, if still pending, is due now [MQTT-3.1.3-9]. */
  readonly onSessionEnd?: (clientId: string) => Promise<unknown>
}

/**
 * A client connected on this pod: its deadline goes (the session continues) and, for a session
 * with an expiry, it is listed in this pod's live hash. One script (all keys in the `{sessions}`
 * slot) instead of ZREM then MULTI/HSET/SADD/EXEC: one command a CONNECT, sent with the other
 * connect bookkeeping in one write, as atomic as the transaction it replaces.
 * KEYS: expiry, live hash of this pod, pods. ARGV: client id, Session Expiry Interval ('' = none), pod id.
 */
const CONNECTED = `redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
end
return 0`

type ConnectedCommand = (expiry: string, live: string, pods: string, clientId: string, interval: string, podId: string) => Promise<unknown>

/** Scripts answer 'retry' when a pod registered between reading the pods SET and the script. */
const RETRIES = 3

/**
 * MQTT 5 Session Expiry across the cluster. aedes times a disconnected session with a timer in
 * the pod the client left (`scheduleSessionExpiry`): lost when that pod dies (the session then
 * never expires), and blind to a reconnect on another pod (the timer then wipes a session that
 * is live elsewhere — with a longer interval given in DISCONNECT this is what lost sessions).
 * Here (through aedes' `sessionExpiry` hooks, src/broker/engine.ts, so aedes keeps no timer)
 * the deadline is stored in Redis when the client leaves, removed when the client id
 * connects on any pod, and every pod sweeps deadlines that have passed; a Lua claim gives each
 * expired session to exactly one pod, which wipes its subscriptions and offline queue.
 * Each pod also lists its connected MQTT 5 clients and their Session Expiry Interval in Redis
 * (`{sessions}:live:<pod>`). When a pod dies (3 missed heartbeats, see watchPodHeartbeats) the
 * first survivor to notice gives each of its sessions the deadline detection time + interval
 * (the loss is dated at detection: 3–4 heartbeats late, never early); a session whose client
 * is connected on another pod by then is left alone, and a deadline that comes while its client
 * is connected somewhere is dropped.
 * MQTT 3.1.1 sessions keep their rules: clean ones end with the connection, others never expire.
 */
export class ClusterSessionExpiry {
  readonly #broker: Engine
  readonly #options: SessionExpiryOptions
  readonly #sweeper: Sweeper<string[]>

  constructor (broker: Engine, options: SessionExpiryOptions) {
    this.#broker = broker
    this.#options = options
    // aedes calls these instead of timing sessions itself (our patch, src/broker/engine.ts).
    // aedes calls reconnected(id) right before it emits 'client' for that id (_finishRegisterClient,
    // its only caller in cluster mode): the deadline is cleared there, with the live listing.
    broker.sessionExpiry = {
      disconnected: (client) => this.#disconnected(client),
      reconnected: () => {}
    }
    const live = sessionLiveKey(options.nodeId)
    options.redis.defineCommand('starlingSessionConnected', { numberOfKeys: 3, lua: CONNECTED })
    const connected = (options.redis as unknown as { starlingSessionConnected: ConnectedCommand }).starlingSessionConnected.bind(options.redis)
    broker.on('client', (client) => {
      const interval = hasSessionExpiry(client) ? String(client.sessionExpiryInterval) : ''
      this.#redisCall('connected', connected(sessionExpiryKey(), live, sessionPodsKey(), client.id, interval, options.nodeId))
    })
    broker.on('clientDisconnect', (client) => {
      // A takeover on this pod replaces the connection: the client id stays connected here.
      if (broker.clients[client.id] !== undefined || !hasSessionExpiry(client)) return
      this.#redisCall('gone', options.redis.hdel(live, client.id))
    })
    this.#sweeper = new Sweeper(() => this.#sweepOnce(), { name: 'session expiry sweep', everyMs: options.sweepMs, logger: options.logger, skip: () => broker.closed }).start()
  }

  /**
   * Before this pod takes clients: sessions listed under its id are a previous run's (a pod
   * restarted with the same id), whose connections are gone; their deadlines count from now.
   */
  async recoverPreviousRun (): Promise<void> {
    await this.#claimDeadPod(this.#options.nodeId)
  }

  /** Stops sweeping (a draining pod still records the deadlines of the clients it closes). */
  stop (): void {
    void this.#sweeper.stop()
  }

  /** An MQTT 5 session's connection ended here (not by a takeover): true when the session ends with it. */
  #disconnected (client: Client): boolean {
    const interval = client.sessionExpiryInterval
    if (interval === 0) {
      // The session ends with the connection [MQTT-3.1.2-23]: aedes wipes it.
      this.#redisCall('end', this.#options.redis.zrem(sessionExpiryKey(), client.id))
      return true
    }
    if (interval >= SESSION_NEVER_EXPIRES) {
      this.#redisCall('keep', this.#options.redis.zrem(sessionExpiryKey(), client.id))
      return false
    }
    this.#redisCall('schedule', this.#options.redis.zadd(sessionExpiryKey(), Date.now() + interval * 1000, client.id))
    return false
  }

  /** One sweep now (unless one is running; failures are logged). Returns the ids wiped. */
  async sweep (): Promise<string[]> {
    return await this.#sweeper.run() ?? []
  }

  /** Dates dead pods' sessions, claims the sessions past their deadline and wipes them. */
  async #sweepOnce (): Promise<string[]> {
    const pods = await this.#options.redis.smembers(sessionPodsKey())
    if (!pods.includes(this.#options.nodeId)) await this.#relist()
    for (const pod of pods) {
      if (await this.#options.liveness.isDead(pod)) await this.#claimDeadPod(pod)
    }
    const ids = await this.#withLiveHashes(CLAIM_EXPIRED, [Date.now(), SWEEP_BATCH]) as string[]
    const wiped: string[] = []
    for (const id of ids) {
      // Connected here after all (the deadline is cleared on connect; this is a late race).
      if (this.#broker.clients[id] !== undefined) continue
      await this.#wipe(id)
      await this.#options.onSessionEnd?.(id)
      wiped.push(id)
    }
    if (wiped.length > 0) this.#options.logger.info({ clients: wiped.length }, 'expired sessions wiped')
    return wiped
  }

  /**
   * Lists this pod's connected MQTT 5 clients again when its entry is gone: Redis lost its data,
   * or the other pods took this one for dead while it was cut off (their deadlines for these
   * sessions are then dropped by CLAIM_EXPIRED, the clients being connected).
   */
  async #relist (): Promise<void> {
    const clients = Object.values(this.#broker.clients)
    const entries = clients.flatMap((c) => hasSessionExpiry(c) ? [c.id, String(c.sessionExpiryInterval)] : [])
    if (entries.length === 0) return
    const nodeId = this.#options.nodeId
    await this.#options.redis.multi().hset(sessionLiveKey(nodeId), ...entries).sadd(sessionPodsKey(), nodeId).exec()
  }

  async #claimDeadPod (pod: string): Promise<void> {
    const count = await this.#withLiveHashes(CLAIM_DEAD_POD, [pod, Date.now()], pod) as number
    if (count > 0) this.#options.logger.info({ pod, sessions: count }, 'sessions of a dead pod given their expiry deadlines')
  }

  /** Runs a WITH_LIVE_HASHES script over every pod's live hash (plus `extra`'s), retrying if a pod registered meanwhile. */
  async #withLiveHashes (script: string, args: ReadonlyArray<string | number>, extra?: string): Promise<unknown> {
    const redis = this.#options.redis
    for (let attempt = 0; attempt < RETRIES; attempt++) {
      const pods = new Set(await redis.smembers(sessionPodsKey()))
      if (extra !== undefined) pods.add(extra)
      const ids = [...pods]
      const keys = [sessionExpiryKey(), sessionPodsKey(), ...ids.map(sessionLiveKey)]
      const result = await redis.eval(script, keys.length, ...keys, ...args, ...ids)
      if (result !== 'retry') return result
    }
    throw new StarlingError('STARLING_ERR_REDIS_SCRIPT', ['session expiry', `the pods kept changing over ${RETRIES} attempts`])
  }

  /**
   * Removes an expired session's subscriptions (all pods' routing); losing its last subscription
   * drops its offline queue too (StarlingRedisPersistence.removeSubscriptions).
   */
  async #wipe (clientId: string): Promise<void> {
    await this.#broker.persistence.cleanSubscriptions({ id: clientId })
  }

  #redisCall (what: string, call: Promise<unknown>): void {
    call.catch((err: Error) => this.#options.logger.warn({ err: err.message, what }, 'session expiry bookkeeping failed'))
  }
}
