import type { Socket } from 'node:net'
import { isStarlingError } from '../errors.js'
import { parseProxyHeader, type ProxySource } from './proxy-protocol.js'

export type ProxyHeaderFailure = 'invalid' | 'timeout' | 'closed' | 'untrusted'

export interface ProxyAcceptOptions {
  readonly listener: string
  /** Time the header has to arrive, in milliseconds. */
  readonly timeoutMs: number
  /** Whether a peer may send a PROXY header at all: others are closed unread ('untrusted'). */
  readonly trusts: (address: string | undefined) => boolean
  /** Called with the socket (header consumed, the bytes after it still unread) and the real client. */
  readonly onHeader: (socket: Socket, source: ProxySource | undefined) => void
  /** Called once the socket has been destroyed for a missing or invalid header. */
  readonly onError: (peer: { address?: string, port?: number }, reason: ProxyHeaderFailure, detail: string) => void
}

/**
 * Reads a PROXY protocol header off a freshly accepted socket, then hands the socket itself on:
 * bytes that arrived behind the header (MQTT CONNECT, a TLS ClientHello) are put back with
 * `unshift`, so the next reader sees the stream exactly as the client sent it. The header may
 * arrive in any number of TCP segments. Sockets still waiting are tracked so `close()` can end them.
 */
export class ProxyAcceptor {
  readonly #options: ProxyAcceptOptions
  /** Sockets still waiting for their header, with the function that stops waiting. */
  readonly #pending = new Map<Socket, () => void>()

  constructor (options: ProxyAcceptOptions) {
    this.#options = options
  }

  accept (socket: Socket): void {
    const { timeoutMs, onHeader, onError, trusts } = this.#options
    let received: Buffer = Buffer.alloc(0)
    // Read now: once the socket is destroyed its peer address is no longer available.
    const peer = { address: socket.remoteAddress, port: socket.remotePort }
    // A header from anyone else could claim any client address: not a byte of it is read.
    if (!trusts(peer.address)) {
      socket.on('error', () => {})
      socket.destroy()
      onError(peer, 'untrusted', 'the source is not in mqtt.proxyProtocolTrustedCidrs')
      return
    }

    const finish = (): void => {
      clearTimeout(timer)
      socket.off('readable', onReadable)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.off('error', onSocketError)
      this.#pending.delete(socket)
    }
    const fail = (reason: ProxyHeaderFailure, detail: string): void => {
      finish()
      socket.on('error', () => {})
      socket.destroy()
      onError(peer, reason, detail)
    }
    const onReadable = (): void => {
      // Bounded: each read() drains what the socket has buffered; the header is at most 64 KiB.
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
        let result
        try {
          result = parseProxyHeader(received)
        } catch (err) {
          fail('invalid', isStarlingError(err, 'STARLING_ERR_PROXY_HEADER') ? err.message : String(err))
          return
        }
        if (!result.complete) continue
        finish()
        if (received.length > result.length) socket.unshift(received.subarray(result.length))
        onHeader(socket, result.source)
        return
      }
    }
    const onEnd = (): void => {
      // A connect-and-close without a byte is a load balancer's TCP health check, not an error.
      if (received.length === 0) {
        finish()
        socket.destroy()
        return
      }
      fail('closed', 'connection closed inside the header')
    }
    const onSocketError = (err: Error): void => { fail('closed', err.message) }
    const timer = setTimeout(() => fail('timeout', `no complete header within ${timeoutMs} ms`), timeoutMs)
    this.#pending.set(socket, finish)
    socket.on('readable', onReadable)
    socket.on('end', onEnd)
    socket.on('close', onEnd)
    socket.on('error', onSocketError)
  }

  /** Ends connections still waiting for their header (the listener is closing). */
  destroyPending (): void {
    for (const [socket, finish] of [...this.#pending]) {
      finish()
      socket.destroy()
    }
  }
}
