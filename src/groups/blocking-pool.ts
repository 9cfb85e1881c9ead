import { createRedisClient, type RedisClient, type RedisSettings } from '../cluster/redis.js'
import type { Logger } from '../logger.js'

/**
 * Redis connections for blocking group reads (XREADGROUP BLOCK holds its connection until it
 * returns): one per member waiting for messages, at most `max`; beyond it reads wait here for a
 * connection. Connections are opened on demand and kept for reuse.
 */
export class BlockingPool {
  readonly #settings: RedisSettings
  readonly #nodeId: string
  readonly #logger: Logger
  readonly #max: number
  readonly #all: RedisClient[] = []
  readonly #idle: RedisClient[] = []
  readonly #waiting: Array<(conn: RedisClient | undefined) => void> = []
  #closed = false

  constructor (settings: RedisSettings, options: { nodeId: string, logger: Logger, max: number }) {
    this.#settings = settings
    this.#nodeId = options.nodeId
    this.#logger = options.logger
    this.#max = options.max
  }

  /** A connection for one blocking command; undefined once the pool is closed. */
  async acquire (): Promise<RedisClient | undefined> {
    if (this.#closed) return undefined
    const idle = this.#idle.pop()
    if (idle !== undefined) return idle
    if (this.#all.length < this.#max) {
      const conn = createRedisClient(this.#settings, { role: 'share-read', nodeId: this.#nodeId, logger: this.#logger })
      conn.on('error', (err: Error) => this.#logger.debug({ err: err.message }, 'redis share-read connection error'))
      this.#all.push(conn)
      return conn
    }
    return await new Promise((resolve) => this.#waiting.push(resolve))
  }

  release (conn: RedisClient): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next(this.#closed ? undefined : conn)
    else this.#idle.push(conn)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const waiter of this.#waiting.splice(0)) waiter(undefined)
    for (const conn of this.#all) conn.disconnect()
  }
}
