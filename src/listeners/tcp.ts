import { createServer, type Server, type Socket } from 'node:net'
import { StarlingError } from '../errors.js'
import type { SocketBudget } from './socket-budget.js'
import type { ConnectionHandler, Listener } from './types.js'

export interface TcpListenerOptions {
  readonly name: string
  readonly host: string
  readonly port: number
  /** Prepares each accepted socket (e.g. reads a PROXY protocol header) before MQTT starts. */
  readonly accept?: (socket: Socket, handle: ConnectionHandler) => void
  /** Counts the sockets against `limits.maxConnections` from accept on. */
  readonly sockets?: SocketBudget | undefined
}

export function listenServer (server: Server, name: string, host: string, port: number, sockets?: SocketBudget): Promise<Listener> {
  sockets?.watch(server)
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new StarlingError('STARLING_ERR_LISTEN', [`${name} ${host}:${port}`, err.message], { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      const address = server.address()
      const bound = typeof address === 'object' && address !== null ? address.port : port
      resolve({
        name,
        address: { host, port: bound },
        close: () => new Promise<void>((done) => { server.close(() => done()) })
      })
    })
  })
}

/** MQTT over plain TCP. */
export function listenTcp (options: TcpListenerOptions, handle: ConnectionHandler): Promise<Listener> {
  const server = createServer({ noDelay: true }, (socket) => {
    if (options.accept !== undefined) {
      options.accept(socket, handle)
      return
    }
    handle(socket, { listener: options.name, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort })
  })
  return listenServer(server, options.name, options.host, options.port, options.sockets)
}
