import { createServer as createNetServer, type Socket } from 'node:net'
import { createServer, type TLSSocket, type TlsOptions } from 'node:tls'
import type { ProxyAcceptor } from './proxy-accept.js'
import type { ProxySource } from './proxy-protocol.js'
import { listenServer } from './tcp.js'
import type { SocketBudget } from './socket-budget.js'
import type { ConnectionHandler, Listener } from './types.js'

export interface TlsListenerOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  readonly tls: TlsOptions
  /** Time a client has for the TLS handshake, in milliseconds. */
  readonly handshakeTimeoutMs: number
  /** When set, a PROXY header is read on the raw socket before the TLS handshake. */
  readonly proxy?: ((onHeader: ProxyHandOff) => ProxyAcceptor) | undefined
  /** Counts the sockets against `limits.maxConnections` from accept on. */
  readonly sockets?: SocketBudget | undefined
}

/** Where a raw socket goes once its PROXY header has been read. */
export type ProxyHandOff = (socket: Socket, source: ProxySource | undefined) => void

/** The client address from the PROXY header, kept on the raw socket the TLSSocket wraps. */
const proxySources = new WeakMap<Socket, ProxySource>()

function proxySourceOf (secure: TLSSocket): ProxySource | undefined {
  // A server-side TLSSocket keeps the socket it wraps as `_parent` (node's _tls_wrap.js).
  const parent = (secure as unknown as { _parent?: Socket })._parent
  return parent === undefined ? undefined : proxySources.get(parent)
}

/**
 * MQTT over TLS. With PROXY protocol the header comes before the TLS handshake (as HAProxy's
 * `send-proxy-v2` sends it), so a plain TCP server accepts, reads the header, and passes the
 * socket (the bytes after the header put back) to the TLS server, which never listens itself.
 */
export function listenTls (options: TlsListenerOptions, handle: ConnectionHandler): Promise<Listener> {
  const { name } = options
  const tlsServer = createServer({ ...options.tls, handshakeTimeout: options.handshakeTimeoutMs }, (socket) => {
    const origin = proxySourceOf(socket)
    // SNI: the endpoint name `<broker>.<namespace>.<domain>` selects the broker (src/tenancy).
    const serverName = typeof socket.servername === 'string' && socket.servername !== '' ? socket.servername : undefined
    handle(socket, {
      listener: name,
      remoteAddress: origin?.address ?? socket.remoteAddress,
      remotePort: origin?.port ?? socket.remotePort,
      ...(serverName !== undefined ? { serverName } : {})
    })
  })
  // A failed handshake (wrong CA, no client certificate, plain TCP) only ends that socket.
  tlsServer.on('tlsClientError', (_err, socket) => { socket.destroy() })
  if (options.proxy === undefined) return listenServer(tlsServer, name, options.host, options.port, options.sockets)

  const acceptor = options.proxy((socket, source) => {
    // The TLSSocket wraps this socket; the source address is carried over for the origin.
    if (source !== undefined) proxySources.set(socket, source)
    tlsServer.emit('connection', socket)
  })
  const raw = createNetServer({ noDelay: true }, (socket) => acceptor.accept(socket))
  return listenServer(raw, name, options.host, options.port, options.sockets).then((listener) => ({
    ...listener,
    close: () => {
      acceptor.destroyPending()
      return listener.close()
    }
  }))
}
