import { StarlingError } from '../errors.js'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { BrokerMetrics } from '../metrics/registry.js'
import { ProxyAcceptor } from './proxy-accept.js'
import { TrustedProxies } from './trusted-proxies.js'
import type { ProxySource } from './proxy-protocol.js'
import { listenTcp } from './tcp.js'
import { loadTlsOptions } from './tls-files.js'
import { listenTls } from './tls.js'
import type { ConnectionHandler, Listener } from './types.js'
import { listenWs } from './ws.js'
import type { Socket } from 'node:net'
import type { SocketBudget } from './socket-budget.js'

export interface ListenerDeps {
  readonly logger: Logger
  readonly metrics: BrokerMetrics
  /** Sockets of all listeners, counted against `limits.maxConnections` from accept on. */
  readonly sockets?: SocketBudget | undefined
}

/** Longest wait for a PROXY header, in milliseconds (shorter if `limits.connectTimeoutMs` is). */
const PROXY_HEADER_TIMEOUT_MS = 5000

function proxyAcceptor (name: string, config: StarlingConfig, deps: ListenerDeps,
  onHeader: (socket: Socket, source: ProxySource | undefined) => void): ProxyAcceptor {
  const trusted = new TrustedProxies(config.mqtt.proxyProtocolTrustedCidrs)
  return new ProxyAcceptor({
    listener: name,
    timeoutMs: Math.min(config.limits.connectTimeoutMs, PROXY_HEADER_TIMEOUT_MS),
    trusts: (address) => trusted.trusts(address),
    onHeader,
    onError: (peer, reason, detail) => {
      deps.metrics.proxyHeaderErrors.inc({ listener: name, reason })
      if (reason === 'untrusted') {
        // anyone can open connections: logged at most once per interval (faults.ts)
        deps.metrics.faults.record('proxy_untrusted_source', new StarlingError('STARLING_ERR_PROXY_HEADER', [detail]), { listener: name, remoteAddress: peer.address })
        return
      }
      deps.logger.warn({ listener: name, remoteAddress: peer.address, remotePort: peer.port, reason, detail },
        'PROXY protocol header missing or invalid, connection closed')
    }
  })
}

/** MQTT over TCP; with `mqtt.proxyProtocol` each socket first yields its PROXY header. */
async function startTcp (config: StarlingConfig, handle: ConnectionHandler, deps: ListenerDeps): Promise<Listener> {
  const name = 'mqtt'
  const { host, port } = config.mqtt
  // Without PROXY protocol the socket goes straight to the broker: no extra reader or wrapper.
  const sockets = deps.sockets
  if (!config.mqtt.proxyProtocol) return listenTcp({ name, host, port, sockets }, handle)
  const acceptor = proxyAcceptor(name, config, deps, (socket, source) => {
    handle(socket, {
      listener: name,
      remoteAddress: source?.address ?? socket.remoteAddress,
      remotePort: source?.port ?? socket.remotePort
    })
  })
  const listener = await listenTcp({ name, host, port, sockets, accept: (socket) => acceptor.accept(socket) }, handle)
  return { ...listener, close: () => { acceptor.destroyPending(); return listener.close() } }
}

/**
 * Starts every listener the configuration asks for: `mqtt` (TCP) always; `mqtts` (TLS) and
 * `wss` when tls.certFile and tls.keyFile are set; `ws` (and `wss`) unless ws.enabled is false.
 * TLS files are checked before anything listens. If one listener fails, the started ones are closed.
 */
export async function startListeners (config: StarlingConfig, handle: ConnectionHandler, deps: ListenerDeps): Promise<Listener[]> {
  const tls = loadTlsOptions(config.tls)
  const handshakeTimeoutMs = config.limits.connectTimeoutMs
  const maxPayload = 2 * config.limits.maxPacketSize
  const started: Listener[] = []
  try {
    started.push(await startTcp(config, handle, deps))
    if (tls !== undefined) {
      const name = 'mqtts'
      const proxy = config.mqtt.proxyProtocol
        ? (onHeader: (socket: Socket, source: ProxySource | undefined) => void) => proxyAcceptor(name, config, deps, onHeader)
        : undefined
      started.push(await listenTls({ name, host: config.mqtt.host, port: config.tls.port, tls, handshakeTimeoutMs, proxy, sockets: deps.sockets }, handle))
    }
    if (config.ws.enabled) {
      const common = { host: config.mqtt.host, path: config.ws.path, maxPayload, handshakeTimeoutMs, sockets: deps.sockets }
      started.push(await listenWs({ ...common, name: 'ws', port: config.ws.port }, handle))
      if (tls !== undefined) started.push(await listenWs({ ...common, name: 'wss', port: config.wss.port, tls }, handle))
    }
  } catch (err) {
    await Promise.all(started.map((listener) => listener.close()))
    throw err
  }
  return started
}
