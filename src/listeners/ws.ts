import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import type { TlsOptions } from 'node:tls'
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws'
import { listenServer } from './tcp.js'
import type { SocketBudget } from './socket-budget.js'
import type { ConnectionHandler, Listener } from './types.js'

export interface WsListenerOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  /** HTTP path of the endpoint; every other path gets 404. */
  readonly path: string
  /** Largest WebSocket message accepted, in bytes. */
  readonly maxPayload: number
  /** Set for WSS (WebSocket over TLS). */
  readonly tls?: TlsOptions
  readonly handshakeTimeoutMs: number
  /** Counts the sockets against `limits.maxConnections` from accept on. */
  readonly sockets?: SocketBudget | undefined
}

/** Sub-protocols of MQTT over WebSocket: `mqtt` [MQTT-6.0.0-3], and `mqttv3.1` of older clients. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1']

function offeredProtocols (req: IncomingMessage): string[] | undefined {
  const header = req.headers['sec-websocket-protocol']
  return header === undefined ? undefined : header.split(',').map((p) => p.trim())
}

/** Answers an upgrade request that will not become a WebSocket, then closes the socket. */
function refuse (socket: Duplex, status: number, text: string): void {
  socket.on('error', () => {})
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/** The Host header's name without its port (`[::1]:8080` → `::1`); undefined when absent. */
export function hostNameOf (req: IncomingMessage): string | undefined {
  const host = req.headers.host
  if (host === undefined || host === '') return undefined
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'))
  const colon = host.indexOf(':')
  return colon === -1 ? host : host.slice(0, colon)
}

function pathOf (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/**
 * Wraps the WebSocket in a byte stream for aedes. MQTT travels in binary frames only; a text
 * frame closes the connection with 1003 [MQTT-6.0.0-1] before its bytes reach the broker (the
 * filter sits in front of the stream's own 'message' listener).
 */
function mqttStream (ws: WebSocket): Duplex {
  const stream = createWebSocketStream(ws)
  const forwards = ws.listeners('message') as Array<(data: Buffer, isBinary: boolean) => void>
  ws.removeAllListeners('message')
  let refused = false
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (refused) return
    if (isBinary) {
      for (const forward of forwards) forward.call(ws, data, isBinary)
      return
    }
    refused = true
    ws.close(1003, 'MQTT needs binary frames')
  })
  return stream
}

/** MQTT over WebSocket (WS), or over secure WebSocket when `tls` is given (WSS). */
export function listenWs (options: WsListenerOptions, handle: ConnectionHandler): Promise<Listener> {
  const { name } = options
  const server: Server = options.tls === undefined
    ? createHttpServer()
    : createHttpsServer({ ...options.tls, handshakeTimeout: options.handshakeTimeoutMs })
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: options.maxPayload,
    handleProtocols: (protocols) => SUBPROTOCOLS.find((p) => protocols.has(p)) ?? false
  })

  server.on('request', (req, res) => {
    const upgradeRequired = pathOf(req) === options.path
    res.writeHead(upgradeRequired ? 426 : 404, { Connection: 'close', ...(upgradeRequired ? { Upgrade: 'websocket' } : {}) })
    res.end()
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== options.path) { refuse(socket, 404, 'Not Found'); return }
    const offered = offeredProtocols(req)
    // A client that names sub-protocols must offer an MQTT one [MQTT-6.0.0-3]; one that names none is served.
    if (offered !== undefined && !offered.some((p) => SUBPROTOCOLS.includes(p))) {
      refuse(socket, 400, 'Bad Request')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The Host header `<broker>.<namespace>.<domain>` selects the broker (src/tenancy).
      const serverName = hostNameOf(req)
      handle(mqttStream(ws), { listener: name, remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort, socket: req.socket, ...(serverName !== undefined ? { serverName } : {}) })
    })
  })
  server.on('tlsClientError', (_err: Error, socket: Duplex) => { socket.destroy() })

  return listenServer(server, name, options.host, options.port, options.sockets).then((listener) => ({
    ...listener,
    close: async () => {
      wss.close()
      server.closeIdleConnections()
      await listener.close()
    }
  }))
}
