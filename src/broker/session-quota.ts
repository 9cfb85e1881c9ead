import type { EnginePersistence } from './engine.js'
import type { ConnectStep } from './connect-guard.js'
import type { RetainedCount } from './retained-quota.js'
import type { Logger } from '../logger.js'
import { StarlingError } from '../errors.js'
import { Sweeper } from '../util/sweeper.js'

/**
 * `limits.maxPersistentSessions`: a CONNECT that would create one more session outliving its
 * connection (MQTT 5 Session Expiry > 0, 3.1.1 Clean Session 0) is refused with CONNACK 0x97
 * (3.1.1: return code 3) while the installation keeps that many; resuming one always works, and
 * so does a clean session. The count is re-read every `refreshMs` (one SCARD per pod in cluster
 * mode) and raised by each new session admitted in between, so a burst cannot overshoot by more
 * than the other pods' admissions within one refresh. Whether the session is new is asked of the
 * persistence only for persistent CONNECTs (cluster mode: `sessionState`, the subscriptions' HGETALL
 * that aedes' fetchSubs would make anyway, and an EXISTS of the record only for a session without one).
 */
export class SessionQuota {
  readonly #max: number
  readonly #count: RetainedCount
  readonly #persistence: EnginePersistence
  readonly #sweeper: Sweeper
  readonly #onRefused: () => void
  #known = 0

  constructor (options: { max: number, count: RetainedCount, persistence: EnginePersistence, refreshMs: number, logger: Logger, onRefused: () => void }) {
    this.#max = options.max
    this.#count = options.count
    this.#persistence = options.persistence
    this.#onRefused = options.onRefused
    this.#sweeper = new Sweeper(async () => { await this.refresh() }, { name: 'persistent session count', everyMs: options.refreshMs, logger: options.logger }).start()
  }

  async refresh (): Promise<void> {
    const n = await this.#count()
    if (n !== undefined) this.#known = n
  }

  /** Refuses the CONNECT when it would create a persistent session beyond the limit. */
  async check (client: { readonly id: string, readonly clean: boolean, _sessionKnown?: boolean, _sessionSubs?: readonly unknown[] | undefined }): Promise<void> {
    if (client.clean) return
    // A lookup that fails counts as new: refused only at the limit, as any new session is. One
    // that answers is kept on the client: aedes' fetchSubs needs the same answer (Session Present),
    // and the subscriptions read with it (sessionState: a session with subscriptions is known
    // without asking for its record).
    const persistence = this.#persistence
    const exists = typeof persistence.sessionState === 'function'
      ? await persistence.sessionState({ id: client.id }).then((state) => { client._sessionKnown = state.known; client._sessionSubs = state.subs; return state.known }, () => false)
      : typeof persistence.hasSession === 'function'
        ? await persistence.hasSession({ id: client.id }).then((known) => { client._sessionKnown = known; return known }, () => false)
        : false
    if (exists) return
    if (this.#known >= this.#max) {
      this.#onRefused()
      throw new StarlingError('STARLING_ERR_SESSIONS_LIMIT', [this.#max])
    }
    this.#known++
  }

  stop (): void {
    void this.#sweeper.stop()
  }
}

/** The CONNECT step checking `quota()` once it exists (the persistence is set up by listen()). */
export function enforceMaxPersistentSessions (quota: () => SessionQuota | undefined): ConnectStep {
  return async function enforceMaxPersistentSessions (ctx) {
    await quota()?.check(ctx.client)
  }
}
