import { shareGroupsChannel, shareGroupsKey } from '../cluster/keys.js'
import { isSharded, onChannelText, publishMessage, subscribeChannels } from '../cluster/pubsub.js'
import type { RedisClient } from '../cluster/redis.js'
import type { Logger } from '../logger.js'
import { shareFromKey, type ShareFilter } from './parse.js'

/**
 * Cluster mode: which shared-subscription groups exist, so that any pod receiving a PUBLISH
 * queues it for every matching group, wherever its members are. The groups live in a Redis ZSET
 * scored by when a pod with a member last renewed them (every sweep); a group nobody renewed for
 * `maxAgeMs` is forgotten (every message it could still hold is older than that). A pod whose
 * first member joins a new group announces it on a channel, so the others know it at once; every
 * pod also re-reads the set every sweep.
 */
export class ClusterGroups {
  readonly #commands: RedisClient
  readonly #subscriber: RedisClient
  readonly #maxAgeMs: number
  readonly #logger: Logger
  readonly #known = new Map<string, ShareFilter>()
  #list: ShareFilter[] = []

  constructor (commands: RedisClient, subscriber: RedisClient, options: { maxAgeMs: number, logger: Logger }) {
    this.#commands = commands
    this.#subscriber = subscriber
    this.#maxAgeMs = options.maxAgeMs
    this.#logger = options.logger
  }

  async start (): Promise<void> {
    const sharded = isSharded(this.#subscriber)
    onChannelText(this.#subscriber, sharded, (channel, key) => {
      if (channel === shareGroupsChannel()) this.#add(key)
    })
    await subscribeChannels(this.#subscriber, sharded, [shareGroupsChannel()])
    await this.refresh()
  }

  groups (): readonly ShareFilter[] {
    return this.#list
  }

  /** A member of `share` joined on this pod: the group exists from now on, cluster-wide. */
  async announce (share: ShareFilter): Promise<void> {
    this.#add(share.key)
    await this.#commands.zadd(shareGroupsKey(), Date.now(), share.key)
    await publishMessage(this.#commands, isSharded(this.#commands), shareGroupsChannel(), share.key)
  }

  /** Groups this pod has members of are still alive. */
  async renew (keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    const now = Date.now()
    await this.#commands.zadd(shareGroupsKey(), ...keys.flatMap((key) => [now, key]))
  }

  /** Re-reads the groups; forgets those nobody renewed for maxAgeMs. */
  async refresh (): Promise<void> {
    const oldest = Date.now() - this.#maxAgeMs
    await this.#commands.zremrangebyscore(shareGroupsKey(), '-inf', `(${oldest}`)
    const keys = await this.#commands.zrange(shareGroupsKey(), 0, -1)
    const live = new Set(keys)
    let changed = false
    for (const key of this.#known.keys()) {
      if (!live.has(key)) {
        this.#known.delete(key)
        changed = true
      }
    }
    for (const key of keys) changed = this.#add(key, false) || changed
    if (changed) this.#list = [...this.#known.values()]
  }

  #add (key: string, rebuild = true): boolean {
    if (this.#known.has(key)) return false
    const share = shareFromKey(key)
    if (share === undefined) {
      this.#logger.debug({ key }, 'ignoring a malformed shared subscription group key')
      return false
    }
    this.#known.set(key, share)
    if (rebuild) this.#list = [...this.#known.values()]
    return true
  }
}
