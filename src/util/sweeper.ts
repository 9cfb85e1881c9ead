import type { Logger } from '../logger.js'

export interface SweeperOptions {
  /** What log lines call it ("will sweep"). */
  readonly name: string
  readonly everyMs: number
  readonly logger: Pick<Logger, 'warn' | 'info'>
  /** Checked before each sweep: true skips it (e.g. the broker is closing). */
  readonly skip?: () => boolean
}

/**
 * The one periodic sweep loop: runs `sweep` every `everyMs` (the timer does not keep the process
 * alive), never two at once (a tick that finds one running is skipped), until stop(). A failed
 * sweep is logged once per failing streak, with a line when sweeps work again: during a Redis
 * outage every tick fails, and the health monitor reports the outage itself.
 */
export class Sweeper<T = void> {
  readonly #sweep: () => Promise<T>
  readonly #options: SweeperOptions
  #timer: NodeJS.Timeout | undefined
  #running: Promise<T | undefined> | undefined
  #failing = false
  #stopped = false

  constructor (sweep: () => Promise<T>, options: SweeperOptions) {
    this.#sweep = sweep
    this.#options = options
  }

  /** Starts the periodic sweeps (once; not after stop()). */
  start (): this {
    if (this.#timer === undefined && !this.#stopped) {
      this.#timer = setInterval(() => { void this.run() }, this.#options.everyMs)
      this.#timer.unref()
    }
    return this
  }

  /** One sweep now: its result, or undefined when skipped (one is running, stopped, `skip()`) or failed. */
  async run (): Promise<T | undefined> {
    if (this.#running !== undefined || this.#stopped || this.#options.skip?.() === true) return undefined
    this.#running = this.#guarded()
    try {
      return await this.#running
    } finally {
      this.#running = undefined
    }
  }

  /** Stops the sweeps; resolves once a sweep in progress has ended. Idempotent. */
  async stop (): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#running
  }

  async #guarded (): Promise<T | undefined> {
    try {
      const result = await this.#sweep()
      if (this.#failing) this.#options.logger.info(`${this.#options.name} works again`)
      this.#failing = false
      return result
    } catch (err) {
      if (!this.#failing) this.#options.logger.warn({ err: (err as Error).message }, `${this.#options.name} failed`)
      this.#failing = true
      return undefined
    }
  }
}
