import type { Client, PublishPacket } from './engine.js'
import type { StarlingConfig } from '../config/schema.js'
import { CONNECT_RATE_ADDRESSES } from '../constants.js'
import { StarlingError } from '../errors.js'
import { parseShare, SHARE_PREFIX } from '../groups/parse.js'
import type { BrokerMetrics, LimitName } from '../metrics/registry.js'
import { KeyedTokenBuckets, TokenBucket } from '../util/token-bucket.js'
import type { ConnectStep } from './connect-guard.js'
import { originOf } from './observe.js'

/** What the limits need to know of the shared subscription groups (src/groups). */
export interface GroupCensus {
  /** Groups that exist (cluster-wide in cluster mode). */
  readonly groupCount: number
  /** Does the group `<group>/<filter>` exist already? */
  hasGroup (key: string): boolean
}

export interface ClientLimitsDeps {
  readonly limits: StarlingConfig['limits']
  readonly share: StarlingConfig['share']
  readonly metrics: BrokerMetrics
  readonly groups?: GroupCensus | undefined
  /** Milliseconds clock (tests). */
  readonly now?: () => number
}

// [MQTT-4.8.2-2] ShareName has no `/`, `+`, `#`; control characters are refused too (they make
// names that cannot be told apart in logs and tools).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** A granted subscription not in `client.subscriptions` after this long never will be (its store failed). */
const GRANT_LANDS_MS = 10000

/**
 * The per-client and per-installation limits checked on CONNECT, SUBSCRIBE and PUBLISH (README
 * "Limits"). Each refusal is a StarlingError carrying its MQTT 5 reason code, and is counted in
 * `starling_limit_hits_total{limit}`.
 */
export class ClientLimits {
  readonly #limits: StarlingConfig['limits']
  readonly #share: StarlingConfig['share']
  readonly #groups: GroupCensus | undefined
  readonly #now: () => number
  readonly #hits = new Map<LimitName, { inc: () => void }>()
  readonly #metrics: BrokerMetrics
  readonly #publishes = new WeakMap<Client, { messages?: TokenBucket, bytes?: TokenBucket }>()
  readonly #connects: KeyedTokenBuckets | undefined
  /**
   * Subscriptions granted here and not yet in `client.subscriptions` (aedes adds them after the
   * session store answers), by filter with the time granted: the entries of one SUBSCRIBE, or of
   * several in flight, count before they land. Forgotten once landed or after GRANT_LANDS_MS.
   */
  readonly #granted = new WeakMap<Client, Map<string, number>>()
  /** New groups granted and not yet known to the groups (joining), with the time granted. */
  readonly #newGroups = new Map<string, number>()

  constructor (deps: ClientLimitsDeps) {
    this.#limits = deps.limits
    this.#share = deps.share
    this.#groups = deps.groups
    this.#metrics = deps.metrics
    this.#now = deps.now ?? Date.now
    this.#connects = deps.limits.connectRatePerAddress > 0 ? new KeyedTokenBuckets(deps.limits.connectRatePerAddress, CONNECT_RATE_ADDRESSES) : undefined
  }

  /** Counts one hit of `limit`. */
  hit (limit: LimitName): void {
    let child = this.#hits.get(limit)
    if (child === undefined) {
      child = this.#metrics.limitHits.labels(limit)
      this.#hits.set(limit, child)
    }
    child.inc()
  }

  /** CONNECT steps: connect rate per source address (CONNACK 0x9F), will payload size (0x97). */
  connectSteps (): ConnectStep[] {
    const steps: ConnectStep[] = []
    const connects = this.#connects
    if (connects !== undefined) {
      steps.push((ctx) => {
        const address = originOf(ctx.client).remoteAddress
        if (address === undefined || connects.take(address, 1, this.#now())) return
        this.hit('connect_rate')
        throw new StarlingError('STARLING_ERR_CONNECT_RATE')
      })
    }
    const maxWill = this.#limits.maxWillPayloadBytes
    steps.push((ctx) => {
      const will = ctx.client._will
      if (will === undefined || will === null) return
      const size = typeof will.payload === 'string' ? Buffer.byteLength(will.payload) : will.payload.length
      if (size <= maxWill) return
      this.hit('will_size')
      throw new StarlingError('STARLING_ERR_WILL_TOO_LARGE', [size, maxWill])
    })
    return steps
  }

  /** A refusal for a new subscription to `topic`, or undefined when the limits allow it. */
  checkSubscribe (client: Client, topic: string): StarlingError | undefined {
    const share = topic.startsWith(SHARE_PREFIX) ? parseShare(topic) : undefined
    const shape = this.#shape(share?.filter ?? topic, topic)
    if (shape !== undefined) return this.#refuse(shape.limit, new StarlingError('STARLING_ERR_FILTER_LIMIT', [shape.why]))
    // A subscription replacing one with the same filter adds nothing.
    if (client.subscriptions[topic] !== undefined) return undefined
    if (share !== undefined) {
      const name = share.group
      if (Buffer.byteLength(name) > this.#share.maxGroupNameLength) {
        return this.#refuse('share_group_name', new StarlingError('STARLING_ERR_SHARE_NAME', [`longer than share.maxGroupNameLength (${this.#share.maxGroupNameLength} bytes)`]))
      }
      if (CONTROL.test(name)) return this.#refuse('share_group_name', new StarlingError('STARLING_ERR_SHARE_NAME', ['control characters']))
    }
    const now = this.#now()
    const granted = this.#pendingOf(client, now)
    if (granted.has(topic)) return undefined
    const count = (client._subCount ?? Object.keys(client.subscriptions).length) + granted.size
    if (count >= this.#limits.maxSubscriptionsPerClient) {
      return this.#refuse('subscriptions', new StarlingError('STARLING_ERR_SUBSCRIPTIONS_LIMIT', [count]))
    }
    if (share !== undefined) {
      // Counting the client's groups walks its subscriptions: only when it could be at the limit
      // (a client granted 10,000 groups in batches of 500 spent half its CPU here, quadratic).
      if (count >= this.#share.maxGroupsPerClient) {
        let mine = 0
        for (const filter in client.subscriptions) if (filter.startsWith(SHARE_PREFIX)) mine++
        for (const filter of granted.keys()) if (filter.startsWith(SHARE_PREFIX)) mine++
        if (mine >= this.#share.maxGroupsPerClient) {
          return this.#refuse('share_groups_per_client', new StarlingError('STARLING_ERR_SHARE_GROUPS_LIMIT', [mine, 'share.maxGroupsPerClient']))
        }
      }
      const groups = this.#groups
      if (groups !== undefined && !groups.hasGroup(share.key) && !this.#newGroups.has(share.key)) {
        for (const [key, at] of this.#newGroups) if (groups.hasGroup(key) || now - at > GRANT_LANDS_MS) this.#newGroups.delete(key)
        const known = groups.groupCount + this.#newGroups.size
        if (known >= this.#share.maxGroups) {
          return this.#refuse('share_groups', new StarlingError('STARLING_ERR_SHARE_GROUPS_LIMIT', [known, 'share.maxGroups']))
        }
        this.#newGroups.set(share.key, now)
      }
    }
    granted.set(topic, now)
    return undefined
  }

  /** The client's granted subscriptions still on their way into `client.subscriptions`. */
  #pendingOf (client: Client, now: number): Map<string, number> {
    let granted = this.#granted.get(client)
    if (granted === undefined) {
      granted = new Map()
      this.#granted.set(client, granted)
      return granted
    }
    for (const [filter, at] of granted) {
      if (client.subscriptions[filter] !== undefined || now - at > GRANT_LANDS_MS) granted.delete(filter)
    }
    return granted
  }

  /** A refusal for this PUBLISH (topic size, the client's rates), or undefined. */
  checkPublish (client: Client | null, packet: PublishPacket): StarlingError | undefined {
    const shape = this.#shape(packet.topic, packet.topic)
    if (shape !== undefined) return this.#refuse(shape.limit, new StarlingError('STARLING_ERR_TOPIC_LIMIT', [shape.why]))
    if (client === null) return undefined
    const { publishRatePerClient: rate, publishBytesPerClient: byteRate } = this.#limits
    if (rate === 0 && byteRate === 0) return undefined
    let buckets = this.#publishes.get(client)
    const now = this.#now()
    if (buckets === undefined) {
      buckets = {
        ...(rate > 0 ? { messages: new TokenBucket(rate, now) } : {}),
        ...(byteRate > 0 ? { bytes: new TokenBucket(byteRate, now) } : {})
      }
      this.#publishes.set(client, buckets)
    }
    if (buckets.messages !== undefined && !buckets.messages.take(1, now)) {
      return this.#refuse('publish_rate', new StarlingError('STARLING_ERR_PUBLISH_RATE', ['rate', 'publishRatePerClient']))
    }
    const size = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length
    if (buckets.bytes !== undefined && !buckets.bytes.take(size, now)) {
      return this.#refuse('publish_bytes', new StarlingError('STARLING_ERR_PUBLISH_RATE', ['bytes', 'publishBytesPerClient']))
    }
    return undefined
  }

  #refuse (limit: LimitName, err: StarlingError): StarlingError {
    this.hit(limit)
    return err
  }

  /** Length in UTF-8 bytes of `whole`, levels of `levels` (the inner filter of a shared one). */
  #shape (levels: string, whole: string): { limit: LimitName, why: string } | undefined {
    const maxLength = this.#limits.maxTopicLength
    // A UTF-16 unit is at most 3 UTF-8 bytes: short strings need no byte count.
    if (whole.length * 3 > maxLength && Buffer.byteLength(whole) > maxLength) {
      return { limit: 'topic_length', why: `longer than limits.maxTopicLength (${maxLength} bytes)` }
    }
    const maxLevels = this.#limits.maxTopicLevels
    if (levels.length >= maxLevels) {
      let n = 1
      for (let i = 0; i < levels.length; i++) if (levels.charCodeAt(i) === 47) n++
      if (n > maxLevels) return { limit: 'topic_levels', why: `more than limits.maxTopicLevels (${maxLevels}) levels` }
    }
    return undefined
  }
}
