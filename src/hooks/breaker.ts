/**
 * A circuit breaker per hook endpoint: `failures` consecutive failed requests open it; after
 * `openMs` one probe request is let through (half-open); its success closes the breaker, its
 * failure opens it again for another `openMs`. While open (and while the probe is out) no
 * request is made: the messages get the failure policy at once.
 */
export class CircuitBreaker {
  #state: 'closed' | 'open' | 'half-open' = 'closed'
  #failures = 0
  #openedAt = 0
  readonly #threshold: number
  readonly #openMs: number
  readonly #now: () => number
  readonly #onChange: (open: boolean) => void

  constructor (options: { failures: number, openMs: number, now?: () => number, onChange?: (open: boolean) => void }) {
    this.#threshold = options.failures
    this.#openMs = options.openMs
    this.#now = options.now ?? Date.now
    this.#onChange = options.onChange ?? (() => {})
  }

  get state (): 'closed' | 'open' | 'half-open' { return this.#state }

  /** May a request go now? In `open` past its wait, this one is the probe. */
  allow (): boolean {
    if (this.#state === 'closed') return true
    if (this.#state === 'open' && this.#now() - this.#openedAt >= this.#openMs) {
      this.#state = 'half-open'
      return true
    }
    return false
  }

  success (): void {
    this.#failures = 0
    if (this.#state !== 'closed') {
      this.#state = 'closed'
      this.#onChange(false)
    }
  }

  failure (): void {
    this.#failures++
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.#threshold)) {
      const wasClosed = this.#state === 'closed'
      this.#state = 'open'
      this.#openedAt = this.#now()
      if (wasClosed) this.#onChange(true)
    }
  }
}
