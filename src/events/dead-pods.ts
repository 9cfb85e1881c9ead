import type { Logger } from '../logger.js'
import type { PodLiveness } from '../cluster/pod-liveness.js'
import { triggerClaimedKey, triggerConnectionsKey, triggerPodsKey } from '../cluster/keys.js'
import type { RedisClient } from '../cluster/redis.js'
import { Sweeper } from '../util/sweeper.js'
import type { ConnectionLedger, LedgerEntry } from './lifecycle.js'
import { TRIGGER_TOPICS } from './names.js'
import type { TriggerPublisher } from './publisher.js'

/** RENAME when the key exists (1), else 0: atomic, so one claimer wins, and no error reply when there is nothing. */
const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1`

/** Entries read (and events published) per HSCAN step of a claimed pod's connections. */
const SCAN_COUNT = 500

export interface DeadPodEventsOptions {
  /** The persistence connection (keys relative to the persistence prefix). */
  readonly redis: RedisClient
  readonly podId: string
  readonly logger: Logger
  readonly liveness: PodLiveness
  /** How often to look for dead pods (cluster.heartbeatMs). */
  readonly sweepMs: number
  readonly closed: () => boolean
}

/**
 * `disconnected` events (reason `pod_died`) for the clients of a pod that died, published once
 * cluster-wide. Each pod keeps its connected clients in its own Redis HASH (one HSET at CONNECT,
 * one HDEL at disconnect). Survivors sweep like the will sweep: a pod silent for 3 heartbeats
 * (pod-liveness.ts) has its HASH RENAMEd (by one script, if it exists) to a key of the claiming survivor — atomic, so
 * exactly one survivor gets it and the others find nothing — which then publishes one event per
 * entry and deletes it. A pod restarting under the same id claims what its previous run left.
 * Not covered: a survivor that dies between the claim and the last event leaves the rest unsent.
 */
export class DeadPodEvents implements ConnectionLedger {
  readonly #o: DeadPodEventsOptions
  readonly #publisher: TriggerPublisher
  readonly #sweeper: Sweeper
  readonly #own: string

  constructor (publisher: TriggerPublisher, options: DeadPodEventsOptions) {
    this.#o = options
    this.#publisher = publisher
    this.#own = triggerConnectionsKey(options.podId)
    this.#sweeper = new Sweeper(() => this.#sweepOnce(), { name: 'trigger dead-pod sweep', everyMs: options.sweepMs, logger: options.logger, skip: options.closed })
  }

  /** Claims the previous run's connections (same pod id), registers this pod, starts sweeping. */
  async start (): Promise<void> {
    await this.#claim(this.#o.podId).catch((err: Error) => this.#o.logger.warn({ err: err.message }, 'could not report the previous run\'s connections'))
    await this.#o.redis.sadd(triggerPodsKey(), this.#o.podId)
    this.#sweeper.start()
  }

  stop (): void {
    void this.#sweeper.stop()
  }

  // The ledger's writes of one event-loop turn go as one HSET and one HDEL: a burst of CONNECTs
  // costs a command per turn, not one per client. Last event of an id in the turn wins (a
  // takeover here disconnects then connects the same id; a client that comes and goes within
  // the turn is only deleted), so the two sets stay disjoint and their order does not matter.
  #added = new Map<string, string>()
  #removed = new Set<string>()
  #flushing = false

  connected (internalId: string, entry: LedgerEntry): void {
    this.#removed.delete(internalId)
    this.#added.set(internalId, JSON.stringify(entry))
    this.#schedule()
  }

  disconnected (internalId: string): void {
    // written in this turn, gone in this turn: nothing reached Redis (a previous entry may have)
    this.#added.delete(internalId)
    this.#removed.add(internalId)
    this.#schedule()
  }

  #schedule (): void {
    if (this.#flushing) return
    this.#flushing = true
    setImmediate(() => { this.#flush() })
  }

  #flush (): void {
    this.#flushing = false
    const added = this.#added
    const removed = this.#removed
    if (added.size > 0) {
      this.#added = new Map()
      const fields: string[] = []
      for (const [id, entry] of added) fields.push(id, entry)
      this.#call(this.#o.redis.hset(this.#own, ...fields))
    }
    if (removed.size > 0) {
      this.#removed = new Set()
      this.#call(this.#o.redis.hdel(this.#own, ...removed))
    }
  }

  /** One sweep now (tests). */
  async sweep (): Promise<void> {
    await this.#sweeper.run()
  }

  async #sweepOnce (): Promise<void> {
    // Re-registered every sweep: a survivor that emptied this pod's entry while it was thought dead.
    await this.#o.redis.sadd(triggerPodsKey(), this.#o.podId)
    const pods = await this.#o.redis.smembers(triggerPodsKey())
    for (const pod of pods) {
      if (pod !== this.#o.podId && await this.#o.liveness.isDead(pod)) await this.#claim(pod)
    }
  }

  /** Takes `pod`'s connections (if this pod wins the RENAME) and publishes a `pod_died` event for each. */
  async #claim (pod: string): Promise<void> {
    const claimed = triggerClaimedKey(pod, this.#o.podId)
    const won = await this.#o.redis.eval(CLAIM, 2, triggerConnectionsKey(pod), claimed) === 1
    if (pod !== this.#o.podId) await this.#o.redis.srem(triggerPodsKey(), pod)
    // Nothing: another survivor took it, or the pod had no clients.
    if (!won) return
    let cursor = '0'
    let count = 0
    // HSCAN may return an entry twice: each client is reported once.
    const seen = new Set<string>()
    do {
      const [next, flat] = await this.#o.redis.hscan(claimed, cursor, 'COUNT', SCAN_COUNT)
      cursor = next
      const events: Array<Promise<void>> = []
      for (let i = 1; i < flat.length; i += 2) {
        const id = flat[i - 1] as string
        if (seen.has(id)) continue
        seen.add(id)
        let entry: LedgerEntry
        try { entry = JSON.parse(flat[i] as string) as LedgerEntry } catch { continue }
        const { mount, namespace, broker, ...fields } = entry
        events.push(this.#publisher.publish(TRIGGER_TOPICS.disconnected, { mount, namespace, broker }, { ...fields, reason: 'pod_died', podId: pod, reportedBy: this.#o.podId }))
        count++
      }
      await Promise.all(events)
    } while (cursor !== '0')
    await this.#o.redis.del(claimed)
    if (count > 0) this.#o.logger.info({ pod, clients: count }, 'trigger: disconnected events of a dead pod\'s clients published')
  }

  #call (call: Promise<unknown>): void {
    call.catch((err: Error) => this.#o.logger.debug({ err: err.message }, 'trigger connection ledger write failed'))
  }
}
