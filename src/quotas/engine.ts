import type { BrokerQuotas } from '../tenancy/types.js'
import { orTimedOut } from '../util/timeout.js'
import { FLUSH_MS, mayTake, wanted } from './budget.js'
import type { QuotaStore, SyncRequest } from './store.js'
import { emptyCounts, isEmpty, planUsage, type UsageCounts } from './usage-buckets.js'

/** How long close() waits for the last flush and release when no wait is given. */
const CLOSE_WAIT_MS = 2000

/**
 * Per-broker quotas for one pod (README "Quotas"). The broker calls it on its hot paths, so
 * everything per message is local: admitPublish takes from a reserve leased from the broker's
 * cluster-wide token buckets (budget.ts explains the accounting and its accuracy), and usage
 * is counted in memory and reported every flush. Only a CONNECT to a broker with a connection
 * quota waits for Redis (one atomic script: the cap is exact cluster-wide).
 *
 * Connections: each pod keeps its live count per broker in the store with a lease (by default
 * the membership registry's TTL) that it renews while it holds connections; a pod that dies
 * stops renewing and its count stops counting when the lease runs out.
 */

/** What the engine needs of a broker: BrokerRecord fits. */
export interface QuotaBroker {
  readonly id: string
  readonly namespace: string
  readonly name: string
  readonly quotas: BrokerQuotas
}

/** Which quota refused something (also the `quota` label of starling_quota_refusals_total). */
export type QuotaRefusal = 'max_connections' | 'publish_rate' | 'bytes_per_second' | 'max_retained'
export const QUOTA_REFUSALS: readonly QuotaRefusal[] = ['max_connections', 'publish_rate', 'bytes_per_second', 'max_retained']

/** `GET .../brokers/{broker}/usage`: connections now; messages and payload bytes since `since`. */
export interface BrokerUsage extends UsageCounts {
  /** Clients connected now, cluster-wide. */
  readonly connections: number
  /** ISO 8601 start of the counted period (`since` rounded down to its minute or hour, at most 7 days back). */
  readonly since: string
}

/** One broker as this pod counts it. Totals are cumulative (metrics read them); deltas go out at the next flush. */
export interface BrokerCounters {
  readonly broker: QuotaBroker
  /** This pod's live connections. */
  readonly connections: number
  /** Cumulative on this pod since start. */
  readonly totals: Readonly<UsageCounts>
  readonly refusals: Readonly<Record<QuotaRefusal, number>>
}

class Dimension {
  /** Tokens leased and not yet used (negative: a debt). */
  reserve = 0
  /** Tokens asked for since the last flush (admitted or refused). */
  demand = 0

  take (cost: number): boolean {
    this.demand += cost
    if (!mayTake(this.reserve)) return false
    this.reserve -= cost
    return true
  }
}

class BrokerState implements BrokerCounters {
  broker: QuotaBroker
  connections = 0
  /** A CONNECT waiting for the store: counted in `connections` already. */
  connectionsChanged = false
  renewedAt = 0
  readonly messages = new Dimension()
  readonly bytes = new Dimension()
  readonly totals = emptyCounts()
  delta = emptyCounts()
  readonly refusals: Record<QuotaRefusal, number> = { max_connections: 0, publish_rate: 0, bytes_per_second: 0, max_retained: 0 }
  /** Last flush that saw traffic or connections (ms): the broker keeps a standing reserve while recent. */
  activeAt = 0

  constructor (broker: QuotaBroker) {
    this.broker = broker
  }

  delivered (bytes: number): void {
    this.delta.messagesOut++
    this.delta.bytesOut += bytes
    this.totals.messagesOut++
    this.totals.bytesOut += bytes
  }
}

/**
 * One connection's view of its broker's counters, kept by the caller for the connection's life:
 * a PUBLISH and a delivery are counted with no lookup per message. The broker record is the one
 * the connection was admitted with (its CONNECT's), as it is for every check of that connection.
 */
export class ConnectionQuotas {
  readonly #state: BrokerState
  readonly broker: QuotaBroker

  constructor (state: BrokerState, broker: QuotaBroker) {
    this.#state = state
    this.broker = broker
  }

  /** A PUBLISH with `bytes` of payload: admitted (undefined) or refused by a rate quota. Counted as received when admitted. */
  admitPublish (bytes: number): QuotaRefusal | undefined {
    return admitPublishOn(this.#state, this.broker, bytes)
  }

  /** A PUBLISH written to the client. */
  delivered (bytes: number): void {
    this.#state.delivered(bytes)
  }
}

function admitPublishOn (state: BrokerState, broker: QuotaBroker, bytes: number): QuotaRefusal | undefined {
  const { publishRatePerSecond, bytesPerSecond } = broker.quotas
  if (publishRatePerSecond > 0 && !state.messages.take(1)) {
    state.refusals.publish_rate++
    return 'publish_rate'
  }
  if (bytesPerSecond > 0 && !state.bytes.take(bytes)) {
    // The message token it took is not used: give it back.
    if (publishRatePerSecond > 0) state.messages.reserve += 1
    state.refusals.bytes_per_second++
    return 'bytes_per_second'
  }
  state.delta.messagesIn++
  state.delta.bytesIn += bytes
  state.totals.messagesIn++
  state.totals.bytesIn += bytes
  return undefined
}

export interface QuotaEngineOptions {
  readonly store: QuotaStore
  /** ms between flushes (default FLUSH_MS, jittered ±20% so pods' leases interleave). */
  readonly flushMs?: number
  /** ms between renewals of this pod's connection leases (the store's lease TTL should be ≥ 2× this). */
  readonly renewMs: number
  /** Called when a flush fails (Redis away): the engine keeps counting and retries. */
  readonly onError?: (err: Error) => void
}

/** A broker stays "active" (standing reserve, STANDING_TOKENS) this long after its last traffic. */
const ACTIVE_MS = 10_000

export class QuotaEngine {
  readonly #store: QuotaStore
  readonly #flushMs: number
  readonly #renewMs: number
  readonly #onError: (err: Error) => void
  readonly #brokers = new Map<string, BrokerState>()
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  #closed = false

  constructor (options: QuotaEngineOptions) {
    this.#store = options.store
    this.#flushMs = options.flushMs ?? FLUSH_MS
    this.#renewMs = options.renewMs
    this.#onError = options.onError ?? (() => {})
    this.#schedule()
  }

  #state (broker: QuotaBroker): BrokerState {
    let state = this.#brokers.get(broker.id)
    if (state === undefined) this.#brokers.set(broker.id, state = new BrokerState(broker))
    else state.broker = broker // quotas may have changed (PATCH): the newest record wins
    return state
  }

  /** Every broker this pod has counted (metrics). */
  counters (): Iterable<BrokerCounters> {
    return this.#brokers.values()
  }

  /**
   * Admits a connection to the broker (undefined) or names the quota that refuses it.
   * `replacing`: the client takes over a connection of this pod with the same client id, which
   * closes, so it needs no new slot.
   */
  async admitConnection (broker: QuotaBroker, options: { replacing?: boolean } = {}): Promise<QuotaRefusal | undefined> {
    const state = this.#state(broker)
    state.connections++
    state.activeAt = Date.now()
    const limit = broker.quotas.maxConnections
    if (limit <= 0 || options.replacing === true) {
      state.connectionsChanged = true
      await this.#prime(state)
      return undefined
    }
    let admitted: boolean
    try {
      admitted = await this.#store.admitConnection(broker.id, state.connections, limit)
    } catch (err) {
      state.connections--
      throw err
    }
    if (admitted) {
      await this.#prime(state)
      return undefined
    }
    state.connections--
    // Written at the next flush: a refused candidate must not keep counting.
    state.connectionsChanged = true
    state.refusals.max_connections++
    return 'max_connections'
  }

  /**
   * A pod that holds no reserve for the broker's rate quotas (its first client, or after a quiet
   * period) leases its standing tokens before the CONNACK, so the client's first PUBLISH does not
   * wait for the next flush. One round trip, only when cold.
   */
  async #prime (state: BrokerState): Promise<void> {
    const { publishRatePerSecond, bytesPerSecond } = state.broker.quotas
    const wantMessages = state.messages.reserve > 0 ? 0 : wanted(0, state.messages.reserve, publishRatePerSecond, true)
    const wantBytes = state.bytes.reserve > 0 ? 0 : wanted(0, state.bytes.reserve, bytesPerSecond, true)
    if (wantMessages === 0 && wantBytes === 0) return
    try {
      const reply = await this.#store.sync(state.broker.id, { at: Date.now(), rate: { messagesPerSecond: publishRatePerSecond, bytesPerSecond, wantMessages, wantBytes } })
      state.messages.reserve += reply.grantedMessages
      state.bytes.reserve += reply.grantedBytes
    } catch (err) {
      // The next flush leases it.
      this.#onError(err as Error)
    }
  }

  /** A connection admitted by admitConnection closed (its count is written at the next flush). */
  releaseConnection (broker: QuotaBroker): void {
    const state = this.#state(broker)
    if (state.connections > 0) state.connections--
    state.connectionsChanged = true
  }

  /** A PUBLISH from a client of the broker with `bytes` of payload: admitted (undefined) or refused by a rate quota. Counted as received when admitted. */
  admitPublish (broker: QuotaBroker, bytes: number): QuotaRefusal | undefined {
    return admitPublishOn(this.#state(broker), broker, bytes)
  }

  /**
   * A retained PUBLISH (`clearing`: empty payload, which deletes the retained message): may it
   * be retained? Only brokers with maxRetained set are tracked; beyond it a new topic is not
   * retained (the message is still delivered), an already retained topic may be replaced.
   */
  async admitRetained (broker: QuotaBroker, topic: string, clearing: boolean): Promise<boolean> {
    const max = broker.quotas.maxRetained
    if (max <= 0) return true
    const admitted = await this.#store.admitRetained(broker.id, topic, clearing, max)
    if (!admitted) this.#state(broker).refusals.max_retained++
    return admitted
  }

  /** A PUBLISH written to a client of the broker. */
  recordDelivery (broker: QuotaBroker, bytes: number): void {
    this.#state(broker).delivered(bytes)
  }

  /**
   * The counters of a connection admitted to the broker, kept by the caller for the connection:
   * its PUBLISH packets and deliveries are then counted without the per-message lookups of
   * admitPublish and recordDelivery (a broker's counters live as long as the engine).
   */
  connectionQuotas (broker: QuotaBroker): ConnectionQuotas {
    return new ConnectionQuotas(this.#state(broker), broker)
  }

  /** Usage of a broker, cluster-wide, as of the pods' last flushes (this pod's included now). */
  async usage (brokerId: string, since?: Date): Promise<BrokerUsage> {
    await this.flush()
    const now = Date.now()
    const plan = planUsage(since?.getTime(), now)
    const [counts, reply] = await Promise.all([
      this.#store.usage(brokerId, plan),
      this.#store.sync(brokerId, { at: now })
    ])
    return { ...counts, connections: reply.connections, since: new Date(plan.from).toISOString() }
  }

  /** Reports every broker's changes now (also runs every flush interval). */
  flush (): Promise<void> {
    this.#flushing ??= this.#flushAll().finally(() => { this.#flushing = undefined })
    return this.#flushing
  }

  async #flushAll (): Promise<void> {
    const now = Date.now()
    const renew = now - this.#lastRenew >= this.#renewMs
    if (renew) this.#lastRenew = now
    const work: Array<Promise<void>> = []
    for (const state of this.#brokers.values()) {
      const request = this.#request(state, now, renew)
      if (request !== undefined) work.push(this.#syncOne(state, request))
    }
    await Promise.all(work)
  }

  #lastRenew = 0

  /** What one broker has to send this flush, or undefined when nothing. */
  #request (state: BrokerState, now: number, renew: boolean): SyncRequest | undefined {
    const { publishRatePerSecond, bytesPerSecond } = state.broker.quotas
    const hasTraffic = !isEmpty(state.delta) || state.messages.demand > 0 || state.bytes.demand > 0
    if (hasTraffic || state.connections > 0) state.activeAt = now
    const active = now - state.activeAt < ACTIVE_MS
    const wantMessages = wanted(state.messages.demand, state.messages.reserve, publishRatePerSecond, active)
    const wantBytes = wanted(state.bytes.demand, state.bytes.reserve, bytesPerSecond, active)
    state.messages.demand = 0
    state.bytes.demand = 0
    const sendUsage = !isEmpty(state.delta)
    const sendConnections = state.connectionsChanged
    const renewLease = renew && state.connections > 0
    if (!sendUsage && !sendConnections && !renewLease && wantMessages === 0 && wantBytes === 0) return undefined
    const usage = state.delta
    if (sendUsage) state.delta = emptyCounts()
    state.connectionsChanged = false
    return {
      at: now,
      ...(sendUsage ? { usage } : {}),
      ...(sendConnections ? { connections: state.connections } : {}),
      ...(renewLease ? { renew: true } : {}),
      ...(wantMessages > 0 || wantBytes > 0 ? { rate: { messagesPerSecond: publishRatePerSecond, bytesPerSecond, wantMessages, wantBytes } } : {})
    }
  }

  async #syncOne (state: BrokerState, request: SyncRequest): Promise<void> {
    try {
      const reply = await this.#store.sync(state.broker.id, request)
      state.messages.reserve += reply.grantedMessages
      state.bytes.reserve += reply.grantedBytes
    } catch (err) {
      // Not lost: counted again at the next flush.
      if (request.usage !== undefined) addBack(state.delta, request.usage)
      if (request.connections !== undefined) state.connectionsChanged = true
      this.#onError(err as Error)
    }
  }

  #schedule (): void {
    if (this.#closed) return
    const delay = this.#flushMs * (0.8 + 0.4 * Math.random())
    this.#timer = setTimeout(() => {
      this.flush().finally(() => this.#schedule())
    }, delay)
    this.#timer.unref()
  }

  /**
   * Stops flushing after a last flush. `release` (default): removes this pod's connection
   * counts at once (a graceful stop); without it they count until their lease runs out, as a
   * killed pod's would. The last writes get `waitMs`: while Redis is away they never answer,
   * and the store's connection must still close (a client left reconnecting keeps the
   * process alive).
   */
  async close (options: { release?: boolean, waitMs?: number } = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#timer)
    const lastWrites = (options.release ?? true)
      ? this.flush().catch(() => {}).then(async () => await this.#store.release([...this.#brokers.keys()]).catch((err: Error) => this.#onError(err)))
      : this.#flushing?.catch(() => {})
    try {
      await orTimedOut(Promise.resolve(lastWrites), options.waitMs ?? CLOSE_WAIT_MS)
    } finally {
      await this.#store.close()
    }
  }
}

function addBack (into: UsageCounts, counts: UsageCounts): void {
  into.messagesIn += counts.messagesIn
  into.messagesOut += counts.messagesOut
  into.bytesIn += counts.bytesIn
  into.bytesOut += counts.bytesOut
}
