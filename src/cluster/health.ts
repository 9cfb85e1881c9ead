import type { Logger } from '../logger.js'
import type { RedisClient } from './redis.js'

/** Periodic PING of every watched connection (`redis.pingIntervalMs` / `redis.pingTimeoutMs`). */
export interface PingOptions {
  readonly intervalMs: number
  readonly timeoutMs: number
}

/**
 * Tracks whether every Redis connection of the pod is usable. The pod is ready only while all
 * are (`/readyz`, new CONNECTs); one log line when Redis is lost, one when it is back, and
 * connection errors logged once per outage (ioredis repeats them on every reconnect attempt).
 * Connection events miss a Redis that stops answering on an open socket (stopped process,
 * a long-running command, a stalled network path): `startPing` covers that. A connection whose
 * PING has gone unanswered for `timeoutMs` counts as down until that PING is answered.
 */
export class RedisHealth {
  readonly #clients = new Map<string, RedisClient>()
  readonly #listeners = new Set<(up: boolean) => void>()
  readonly #logger: Logger
  readonly #describe: string
  #up = false
  #everUp = false
  #downSince = 0
  #errorLogged = false
  #stopped = false
  /** Roles with a PING in flight, and those whose PING has been in flight longer than the timeout. */
  readonly #pinging = new Set<string>()
  readonly #unanswered = new Set<string>()
  #pingTimer: NodeJS.Timeout | undefined
  #pingTimeoutMs = 0

  constructor (logger: Logger, describe: string) {
    this.#logger = logger
    this.#describe = describe
  }

  get up (): boolean {
    return this.#up
  }

  /**
   * Follows `client`'s connection state from now on (and PINGs it, see startPing: so never a
   * connection that runs blocking commands, whose PING would wait behind them).
   */
  watch (role: string, client: RedisClient): void {
    this.#clients.set(role, client)
    const update = (): void => this.#update()
    client.on('ready', update)
    client.on('close', update)
    client.on('end', update)
    client.on('reconnecting', update)
    client.on('error', (err: Error) => {
      if (this.#stopped) return
      if (!this.#errorLogged) {
        this.#errorLogged = true
        this.#logger.warn({ redis: this.#describe, role, err: err.message }, 'redis connection error')
      } else {
        this.#logger.debug({ role, err: err.message }, 'redis connection error')
      }
      update()
    })
    this.#update()
  }

  /** `listener(up)` on every change of `up`. Returns a function that removes it. */
  onChange (listener: (up: boolean) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Resolves true once every connection is ready, false after `timeoutMs`. */
  waitUntilUp (timeoutMs: number): Promise<boolean> {
    if (this.#up) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => { off(); resolve(false) }, timeoutMs)
      const off = this.onChange((up) => {
        if (!up) return
        clearTimeout(timer)
        off()
        resolve(true)
      })
    })
  }

  /** PINGs every watched connection every `intervalMs`; one unanswered after `timeoutMs` marks it down. */
  startPing (options: PingOptions): void {
    if (this.#pingTimer !== undefined || this.#stopped || options.intervalMs <= 0) return
    this.#pingTimeoutMs = options.timeoutMs
    this.#pingTimer = setInterval(() => {
      for (const [role, client] of this.#clients) this.#ping(role, client, options.timeoutMs)
    }, options.intervalMs)
    this.#pingTimer.unref()
  }

  #ping (role: string, client: RedisClient, timeoutMs: number): void {
    // One PING in flight per connection; while Redis is unreachable the status events rule.
    if (this.#pinging.has(role) || client.status !== 'ready') return
    this.#pinging.add(role)
    const timer = setTimeout(() => {
      this.#unanswered.add(role)
      this.#update()
    }, timeoutMs)
    timer.unref()
    const settle = (): void => {
      clearTimeout(timer)
      this.#pinging.delete(role)
      if (this.#unanswered.delete(role)) this.#update()
    }
    client.ping().then(settle, settle)
  }

  /** The pod is closing its connections on purpose: no more logs or changes. */
  stop (): void {
    this.#stopped = true
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer)
    this.#listeners.clear()
  }

  #update (): void {
    if (this.#stopped) return
    const down = [...this.#clients].filter(([role, client]) => client.status !== 'ready' || this.#unanswered.has(role)).map(([role]) => role)
    const up = this.#clients.size > 0 && down.length === 0
    if (up === this.#up) return
    this.#up = up
    if (up) {
      this.#errorLogged = false
      if (this.#everUp) {
        this.#logger.warn({ redis: this.#describe, downMs: Date.now() - this.#downSince }, 'redis connection restored')
      } else {
        this.#logger.info({ redis: this.#describe }, 'redis connected')
      }
      this.#everUp = true
    } else {
      this.#downSince = Date.now()
      const hung = down.filter((role) => this.#clients.get(role)?.status === 'ready')
      if (this.#everUp && hung.length === down.length) {
        this.#logger.error({ redis: this.#describe, connections: down, pingTimeoutMs: this.#pingTimeoutMs }, 'redis not answering')
      } else if (this.#everUp) {
        this.#logger.error({ redis: this.#describe, connections: down }, 'redis connection lost')
      }
    }
    for (const listener of [...this.#listeners]) listener(up)
  }
}
