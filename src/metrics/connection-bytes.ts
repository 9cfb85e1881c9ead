import type { Counter } from 'prom-client'

/** A socket's own byte counters (net.Socket and tls.TLSSocket have them). */
export interface ByteCountingSocket {
  readonly bytesRead: number
  readonly bytesWritten: number
}

export function isByteCounting (value: unknown): value is ByteCountingSocket {
  const socket = value as Partial<ByteCountingSocket> | null | undefined
  return typeof socket?.bytesRead === 'number' && typeof socket.bytesWritten === 'number'
}

/**
 * Network bytes of the MQTT connections, from the sockets' own counters: nothing is counted per
 * packet. At scrape the open sockets are summed (one pass over the connections) and added to
 * what closed sockets had moved; the counters get the difference since the previous scrape.
 */
export class ConnectionBytes {
  readonly #open = new Set<ByteCountingSocket>()
  #closedIn = 0
  #closedOut = 0
  #reportedIn = 0
  #reportedOut = 0

  constructor (received: Counter, sent: Counter) {
    // prom-client calls a metric's `collect` (its constructor option) before each read.
    Object.assign(received, { collect: () => {
      let total = this.#closedIn
      for (const socket of this.#open) total += socket.bytesRead
      if (total > this.#reportedIn) {
        received.inc(total - this.#reportedIn)
        this.#reportedIn = total
      }
    } })
    Object.assign(sent, { collect: () => {
      let total = this.#closedOut
      for (const socket of this.#open) total += socket.bytesWritten
      if (total > this.#reportedOut) {
        sent.inc(total - this.#reportedOut)
        this.#reportedOut = total
      }
    } })
  }

  open (socket: ByteCountingSocket): void {
    this.#open.add(socket)
  }

  close (socket: ByteCountingSocket): void {
    if (!this.#open.delete(socket)) return
    this.#closedIn += socket.bytesRead
    this.#closedOut += socket.bytesWritten
  }
}
