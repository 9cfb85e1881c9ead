import type { Server, Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * The sockets open on all of a pod's MQTT listeners, counted from accept (before any PROXY
 * header, TLS handshake, WebSocket upgrade or CONNECT), so half-open connections count against
 * `limits.maxConnections`: a CONNECT is refused (0x97) when the connected clients plus the
 * sockets accepted before its own and still without CONNECT reach the limit
 * (src/broker/connect-guard.ts). First come, first served: a burst of simultaneous CONNECTs
 * admits the first ones, and idle sockets opened earlier keep later clients out as real
 * connections would. A socket arriving when `hardLimit` are open is closed at once (there is no
 * CONNECT yet to answer).
 */
export class SocketBudget {
  #open = 0
  readonly #hardLimit: number
  readonly #onRefused: () => void
  /** Accepted sockets without CONNECT yet, in accept order (Map keeps insertion order). */
  readonly #halfOpen = new Map<Socket, true>()
  /** The accepted socket under each stream handed to the broker. */
  readonly #raw = new WeakMap<Duplex, Socket>()

  constructor (hardLimit: number, onRefused: () => void = () => {}) {
    this.#hardLimit = hardLimit
    this.#onRefused = onRefused
  }

  get open (): number {
    return this.#open
  }

  get halfOpen (): number {
    return this.#halfOpen.size
  }

  /** Counts every socket `server` accepts (its 'connection' event, before the listener's own handler). */
  watch (server: Server): void {
    server.prependListener('connection', (socket: Socket) => { this.#admit(socket) })
  }

  /**
   * The MQTT stream handed to the broker, over the accepted socket: `socket` for WebSocket (the
   * HTTP socket), otherwise the stream itself or the socket a TLSSocket wraps.
   */
  bind (stream: Duplex, socket?: object): void {
    const raw = (socket ?? (stream as Duplex & { _parent?: object })._parent ?? stream) as Socket
    if (this.#halfOpen.has(raw)) this.#raw.set(stream, raw)
  }

  /**
   * The stream sent CONNECT: how many sockets accepted before its own still have not (at most
   * `cap`), and it no longer counts as half-open.
   */
  connecting (stream: Duplex, cap: number): number {
    const raw = this.#raw.get(stream)
    if (raw === undefined || !this.#halfOpen.has(raw)) return 0
    let older = 0
    for (const socket of this.#halfOpen.keys()) {
      if (socket === raw || older >= cap) break
      older++
    }
    this.#halfOpen.delete(raw)
    return older
  }

  #admit (socket: Socket): void {
    if (this.#open >= this.#hardLimit) {
      this.#onRefused()
      socket.on('error', () => {})
      socket.destroy()
      return
    }
    this.#open++
    this.#halfOpen.set(socket, true)
    // on(), not once(): a socket closes once, and once()'s wrapper costs ~0.15 KB per idle connection
    socket.on('close', () => {
      this.#open--
      this.#halfOpen.delete(socket)
    })
  }
}

/**
 * Sockets open at once beyond which a new one is closed at accept: `limits.maxConnections` plus
 * headroom, within which a client arriving at a full pod still hears CONNACK 0x97.
 */
export function socketHardLimit (maxConnections: number): number {
  return maxConnections + Math.max(64, Math.min(maxConnections, 1024))
}
