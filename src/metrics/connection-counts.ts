/** One listener and protocol's connections: open now, and accepted since start. */
export interface ConnectionCount {
  readonly labels: { readonly listener: string, readonly protocol: string }
  open: number
  /** Never reset: the metric adds what came since its last collection, heap-mode.ts reads the CONNECT rate. */
  accepted: number
  /** `accepted` as the metric last collected it. */
  reported: number
}

/**
 * `starling_connections` and `starling_connections_total` as plain numbers, handed to prom-client
 * when it collects (registry.ts): a CONNECT and its close then cost an increment each, where
 * prom-client's inc/dec validate and hash a labels object every time (three per cycle).
 */
export class ConnectionCounts {
  readonly #byKey = new Map<string, ConnectionCount>()

  /** The count of `listener` and `protocol` (created at their first connection). */
  of (listener: string, protocol: string): ConnectionCount {
    const key = listener + ' ' + protocol
    let count = this.#byKey.get(key)
    if (count === undefined) {
      count = { labels: { listener, protocol }, open: 0, accepted: 0, reported: 0 }
      this.#byKey.set(key, count)
    }
    return count
  }

  values (): IterableIterator<ConnectionCount> {
    return this.#byKey.values()
  }
}
