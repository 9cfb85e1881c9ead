import type { Logger } from '../logger.js'
import type { RedisClient } from './redis.js'

/**
 * Tracks whether every Redis connection of the pod is usable. The pod is ready only while all
 * are (`/readyz`, new CONNECTs); one log line when Redis is lost, one when it is back, and
 * connection errors logged once per outage (ioredis repeats them on every reconnect attempt).
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

  constructor (logger: Logger, describe: string) {
    this.#logger = logger
    this.#describe = describe
  }

  get up (): boolean {
    return this.#up
  }

  /** Follows `client`'s connection state from now on. */
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

  /** The pod is closing its connections on purpose: no more logs or changes. */
  stop (): void {
    this.#stopped = true
    this.#listeners.clear()
  }

  #update (): void {
    if (this.#stopped) return
    const down = [...this.#clients].filter(([, client]) => client.status !== 'ready').map(([role]) => role)
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
      if (this.#everUp) this.#logger.error({ redis: this.#describe, connections: down }, 'redis connection lost')
    }
    for (const listener of [...this.#listeners]) listener(up)
  }
}
