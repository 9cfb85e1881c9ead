import type { ShareMetrics } from './metrics.js'
import type { ShareFilter } from './parse.js'
import type { GroupQueue, PendingRead, QueueBackend, QueuedMessage, ShareMessage } from './queue.js'

export interface QueueLimits {
  readonly maxLength: number
  readonly maxAgeMs: number
  /** Payload bytes of the waiting messages of one group (`share.maxBytes`); 0 or absent: no bound. */
  readonly maxBytes?: number
}

interface Waiter { readonly count: number, readonly resolve: (messages: QueuedMessage[]) => void }

/**
 * Embedded mode: one group's queue in this process. Waiting messages in order (released ones
 * go back to the front), waiting readers in order: a message goes to the reader that has waited
 * longest, which is what makes members take turns.
 */
class MemoryGroup {
  readonly share: ShareFilter
  /** Members of this pod in the group (the queue is forgotten `maxAgeMs` after it drops to 0). */
  members = 0
  emptySince = Date.now()
  #messages: QueuedMessage[] = []
  #head = 0
  #waiters: Waiter[] = []
  #seq = 0
  /** Payload bytes of the waiting messages. */
  #bytes = 0
  readonly #limits: QueueLimits
  readonly #metrics: ShareMetrics

  constructor (share: ShareFilter, limits: QueueLimits, metrics: ShareMetrics) {
    this.share = share
    this.#limits = limits
    this.#metrics = metrics
  }

  get length (): number {
    return this.#messages.length - this.#head
  }

  push (message: ShareMessage): void {
    this.#messages.push({ id: String(++this.#seq), message, deliveries: 0 })
    this.#bytes += message.payload.length
    // Beyond maxLength the oldest waiting message goes; beyond maxBytes as many as it takes.
    if (this.length > this.#limits.maxLength) this.#dropHead(this.length - this.#limits.maxLength, 'max_length')
    const maxBytes = this.#limits.maxBytes ?? 0
    if (maxBytes > 0 && this.#bytes > maxBytes) {
      let n = 0
      let over = this.#bytes - maxBytes
      while (over > 0 && this.#head + n < this.#messages.length) {
        over -= (this.#messages[this.#head + n] as QueuedMessage).message.payload.length
        n++
      }
      this.#dropHead(n, 'max_bytes')
    }
    this.#serve()
  }

  read (count: number): PendingRead {
    this.trimAge()
    if (this.length > 0) return { result: Promise.resolve(this.#take(count)), cancel: () => {} }
    let resolve!: (messages: QueuedMessage[]) => void
    const result = new Promise<QueuedMessage[]>((_resolve) => { resolve = _resolve })
    const waiter: Waiter = { count, resolve }
    this.#waiters.push(waiter)
    return {
      result,
      cancel: () => {
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
        resolve([])
      }
    }
  }

  release (messages: readonly QueuedMessage[]): void {
    if (messages.length === 0) return
    this.#compact()
    this.#messages.unshift(...messages)
    for (const queued of messages) this.#bytes += queued.message.payload.length
    this.#serve()
  }

  /** Drops messages older than maxAgeMs (they are in arrival order, released ones aside). */
  trimAge (now = Date.now()): void {
    const oldest = now - this.#limits.maxAgeMs
    let n = 0
    while (this.#head + n < this.#messages.length && (this.#messages[this.#head + n] as QueuedMessage).message.enqueuedAt < oldest) n++
    if (n > 0) this.#dropHead(n, 'max_age')
  }

  /** Cancels waiting readers (they resolve with nothing). */
  stopReaders (): void {
    for (const waiter of this.#waiters.splice(0)) waiter.resolve([])
  }

  #serve (): void {
    while (this.#waiters.length > 0 && this.length > 0) {
      const waiter = this.#waiters.shift() as Waiter
      waiter.resolve(this.#take(waiter.count))
    }
  }

  #take (count: number): QueuedMessage[] {
    const end = Math.min(this.#messages.length, this.#head + count)
    const out = this.#messages.slice(this.#head, end)
    for (const queued of out) this.#bytes -= queued.message.payload.length
    this.#head = end
    this.#compact()
    return out
  }

  #dropHead (n: number, reason: 'max_length' | 'max_bytes' | 'max_age'): void {
    for (let i = this.#head; i < this.#head + n; i++) this.#bytes -= (this.#messages[i] as QueuedMessage).message.payload.length
    this.#head += n
    this.#metrics.dropped.inc({ group: this.share.group, reason }, n)
    this.#compact()
  }

  #compact (): void {
    if (this.#head === this.#messages.length) {
      this.#messages = []
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#messages.length) {
      this.#messages = this.#messages.slice(this.#head)
      this.#head = 0
    }
  }
}

/**
 * Embedded mode's group queues (no Redis): a group exists while this pod has a member of it and
 * for `maxAgeMs` after its last member left, keeping messages for members still to come (up to
 * `maxLength` and `maxAgeMs`).
 */
export class MemoryQueueBackend implements QueueBackend {
  readonly #groups = new Map<string, MemoryGroup>()
  #list: ShareFilter[] = []
  readonly #limits: QueueLimits
  readonly #metrics: ShareMetrics

  constructor (limits: QueueLimits, metrics: ShareMetrics) {
    this.#limits = limits
    this.#metrics = metrics
  }

  async join (share: ShareFilter): Promise<GroupQueue> {
    let group = this.#groups.get(share.key)
    if (group === undefined) {
      group = new MemoryGroup(share, this.#limits, this.#metrics)
      this.#groups.set(share.key, group)
      this.#list = [...this.#list, share]
    }
    group.members++
    const joined = group
    let closed = false
    return {
      share,
      read: (count) => joined.read(count),
      ack: () => {},
      release: (messages) => joined.release(messages),
      close: () => {
        if (closed) return
        closed = true
        joined.members--
        if (joined.members === 0) {
          joined.emptySince = Date.now()
          joined.stopReaders()
        }
      }
    }
  }

  groups (): readonly ShareFilter[] {
    return this.#list
  }

  async enqueue (shares: readonly ShareFilter[], message: ShareMessage): Promise<void> {
    for (const share of shares) this.#groups.get(share.key)?.push(message)
  }

  async sweep (): Promise<void> {
    const now = Date.now()
    const lag = new Map<string, number>()
    for (const [key, group] of this.#groups) {
      group.trimAge(now)
      if (group.members === 0 && now - group.emptySince >= this.#limits.maxAgeMs) {
        // Forgotten: whatever it still holds is as old as the group's last member.
        if (group.length > 0) this.#metrics.dropped.inc({ group: group.share.group, reason: 'max_age' }, group.length)
        this.#groups.delete(key)
        this.#list = this.#list.filter((share) => share.key !== key)
        continue
      }
      lag.set(group.share.group, (lag.get(group.share.group) ?? 0) + group.length)
    }
    this.#metrics.lag.reset()
    for (const [group, n] of lag) this.#metrics.lag.set({ group }, n)
  }

  async close (): Promise<void> {
    for (const group of this.#groups.values()) group.stopReaders()
    this.#groups.clear()
    this.#list = []
  }
}
