import type { Client, Engine, PublishPacket } from '../broker/engine.js'
import type { Logger } from '../logger.js'
import { mountedWill } from '../tenancy/mount.js'
import { pluginWillKey, pluginWillListKey, podOfPluginWillKey, willDueKey } from './keys.js'
import type { RedisClient } from './redis.js'
import type { PodLiveness } from './pod-liveness.js'
import { Sweeper } from '../util/sweeper.js'
import { withTimeout } from '../util/timeout.js'

/** How long closing the emitter waits for wills still being published (a drain's). */
const PENDING_WILLS_MS = 3000
/** Due wills one sweep takes at most (the next sweep takes the rest). */
const SWEEP_BATCH = 100

/** Atomically takes the wills whose time has come: each one is claimed by exactly one pod. */
const CLAIM_DUE = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due`

/**
 * Sets each member's due time unless it already has an earlier one (the first survivor to notice
 * a death dates the connection loss). ARGV: score, member, score, member, ...
 * (ZADD LT needs Redis 6.2; this works on any Redis with Lua.)
 */
const ZADD_EARLIER = `
for i = 1, #ARGV, 2 do
  local current = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if not current or tonumber(current) > tonumber(ARGV[i]) then redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0`
/** Wills one ZADD_EARLIER call schedules at most. */
const SCHEDULE_BATCH = 200

export interface WillsOptions {
  /** The persistence connection (keys relative to the persistence prefix). */
  readonly redis: RedisClient
  readonly logger: Logger
  /** How often this pod looks for dead pods' wills and for due wills, in milliseconds. */
  readonly sweepMs: number
  readonly liveness: PodLiveness
}

/**
 * Wills in cluster mode. A will is published only by the pod that takes it out of Redis
 * (StarlingRedisPersistence.delWill claims it), so it is published once, and not at all when the
 * client has connected again on any pod meanwhile (that CONNECT removed the stored will)
 * [MQTT-3.1.2-8] [MQTT-3.1.3-9].
 *
 * Will Delay Interval across pods: a delayed will's time is kept in Redis (`wills:due`, per pod
 * and client), not only in a timer of the pod the client left, and every pod sweeps wills whose
 * time has come. A pod that dies (3 missed heartbeats, see watchPodHeartbeats) leaves wills of
 * clients that were still connected: the survivor that first notices dates their connection
 * loss at that detection and schedules each will Will Delay Interval later (0 for 3.1.1 and
 * undelayed wills). Detection is 3–4 heartbeats after the death: a will is late by that much,
 * never early, so a client reconnecting within its interval always cancels it. A will whose
 * session ends first is published at the session's expiry (ClusterSessionExpiry calls
 * `publishStored`). This replaces aedes' own dead-broker sweep, which published delayed wills
 * at detection: aedes calls this class through its `wills` hooks (src/broker/engine.ts).
 * A drain closes the emitter right after the clients: closing waits (bounded) for the wills of
 * the clients it closed.
 */
export class ClusterWills {
  readonly #broker: Engine
  readonly #options: WillsOptions
  readonly #sweeper: Sweeper
  readonly #pending = new Set<Promise<unknown>>()
  /** Will keys of dead pods already scheduled by this pod (not read again every sweep). */
  readonly #scheduled = new Set<string>()

  constructor (broker: Engine, options: WillsOptions) {
    this.#broker = broker
    this.#options = options
    broker.wills = {
      // The will is due on this pod (connection lost, or its delay passed here).
      publish: (client, will) => {
        void this.#track(this.publishStored(client.id, broker.id, client, will))
        this.#redisCall('done', options.redis.zrem(willDueKey(), dueMember(broker.id, client.id)))
      },
      // Also when closing (aedes then drops its timer): the will waits in Redis for any pod.
      scheduled: (client, _will, delaySeconds) => {
        this.#redisCall('schedule', this.#scheduleDue([[Date.now() + delaySeconds * 1000, dueMember(broker.id, client.id)]]))
      },
      cancelled: (clientId) => {
        this.#redisCall('cancel', options.redis.zrem(willDueKey(), dueMember(broker.id, clientId)))
      },
      drained: async () => {
        await withTimeout(Promise.allSettled([...this.#pending]), PENDING_WILLS_MS, () => {})
      }
    }
    this.#sweeper = new Sweeper(() => this.#sweepOnce(), { name: 'will sweep', everyMs: options.sweepMs, logger: options.logger, skip: () => broker.closed }).start()
    broker.once('closed', () => this.stop())
  }

  /**
   * Before this pod takes clients: wills stored under its id are a previous run's (a pod
   * restarted with the same id), whose connections are gone; they are scheduled from now.
   */
  async recoverPreviousRun (): Promise<void> {
    await this.#scheduleWillsOf((podId) => podId === this.#broker.id)
  }

  stop (): void {
    void this.#sweeper.stop()
  }

  /**
   * Takes a client's stored will out of Redis (the one of `podId`, or the client's current one)
   * and publishes it; false when there is none left (published by another pod, or the client is
   * back). `client`: the connection, for authorization (null for a connection of another pod);
   * `will`: the will as that connection has it (else the stored copy is published).
   */
  async publishStored (clientId: string, podId?: string, client: Client | null = null, will?: PublishPacket): Promise<boolean> {
    const broker = this.#broker
    const stored = await broker.persistence.delWill(podId === undefined ? { id: clientId } : { id: clientId, brokerId: podId })
    if (stored === null || stored === undefined) {
      this.#options.logger.debug({ clientId }, 'will not published: the client is back or another pod published it')
      return false
    }
    const packet = willAsPublish(will ?? stored)
    const from = client ?? broker.clients[clientId] ?? null
    await new Promise<void>((resolve, reject) => {
      broker.authorizePublish(from, packet, (err) => {
        if (err !== null && err !== undefined) { resolve(); return }
        // In the space of the client's tenant (src/tenancy/mount.ts).
        broker.publish(mountedWill(clientId, packet), from, (err2) => { if (err2 !== undefined && err2 !== null) reject(err2); else resolve() })
      })
    })
    return true
  }

  /** One sweep now (unless one is running); failures are logged. */
  async sweep (): Promise<void> {
    await this.#sweeper.run()
  }

  /** Schedules dead pods' wills, then publishes the wills that are due. */
  async #sweepOnce (): Promise<void> {
    await this.#scheduleWillsOf(async (podId) => await this.#options.liveness.isDead(podId))
    const due = await this.#options.redis.eval(CLAIM_DUE, 1, willDueKey(), Date.now(), SWEEP_BATCH) as string[]
    for (const member of due) {
      const [podId, clientId] = JSON.parse(member) as [string, string]
      await this.#track(this.publishStored(clientId, podId))
    }
  }

  /** Schedules, from now, the stored wills of the pods `gone` selects (not seen before by this pod). */
  async #scheduleWillsOf (gone: (podId: string) => boolean | Promise<boolean>): Promise<void> {
    const keys = await this.#options.redis.lrange(pluginWillListKey(), 0, -1)
    // one verdict per pod (a pod has a will key per client)
    const verdicts = new Map<string, boolean>()
    for (const key of keys) {
      const podId = podOfPluginWillKey(key)
      if (!verdicts.has(podId)) verdicts.set(podId, await gone(podId))
    }
    const listed = new Set(keys)
    for (const key of this.#scheduled) if (!listed.has(key)) this.#scheduled.delete(key)
    const alive: Record<string, number> = {}
    let fresh = false
    for (const key of keys) {
      const podId = podOfPluginWillKey(key)
      if (verdicts.get(podId) !== true) {
        alive[podId] = 1
        // A pod back with the same id stores new wills under the same keys.
        this.#scheduled.delete(key)
      } else if (!this.#scheduled.has(key)) fresh = true
    }
    if (!fresh) return
    const now = Date.now()
    let batch: Array<[number, string]> = []
    let count = 0
    // streamWill yields the stored wills of the pods not listed as alive.
    for await (const will of this.#broker.persistence.streamWill(alive)) {
      const key = pluginWillKey(will.brokerId, will.clientId)
      if (this.#scheduled.has(key)) continue
      this.#scheduled.add(key)
      // Undelayed (and 3.1.1) wills are due at once.
      const delay = Number(will.properties?.willDelayInterval ?? 0)
      batch.push([now + delay * 1000, dueMember(will.brokerId, will.clientId)])
      count++
      if (batch.length >= SCHEDULE_BATCH) {
        await this.#scheduleDue(batch)
        batch = []
      }
    }
    await this.#scheduleDue(batch)
    if (count > 0) this.#options.logger.info({ wills: count }, 'wills of a dead pod scheduled')
  }

  async #scheduleDue (entries: ReadonlyArray<[number, string]>): Promise<void> {
    if (entries.length === 0) return
    await this.#options.redis.eval(ZADD_EARLIER, 1, willDueKey(), ...entries.flatMap(([due, member]) => [Math.round(due), member]))
  }

  #track<T> (job: Promise<T>): Promise<T | undefined> {
    const tracked = job.catch((err: Error) => {
      this.#options.logger.warn({ err: err.message }, 'will not published')
      return undefined
    }).finally(() => this.#pending.delete(tracked))
    this.#pending.add(tracked)
    return tracked
  }

  #redisCall (what: string, call: Promise<unknown>): void {
    call.catch((err: Error) => this.#options.logger.warn({ err: err.message, what }, 'will bookkeeping failed'))
  }
}

function dueMember (podId: string, clientId: string): string {
  return JSON.stringify([podId, clientId])
}

/** Will Delay Interval is a CONNECT will property, not one of PUBLISH (as aedes' willAsPublish). */
function willAsPublish (will: PublishPacket): PublishPacket {
  const properties = (will as { properties?: Record<string, unknown> }).properties
  if (properties === undefined || properties.willDelayInterval === undefined) return will
  const { willDelayInterval: _delay, ...rest } = properties
  return { ...will, properties: rest } as PublishPacket
}
