import { connect as netConnect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { ConnackPacket } from '../k6/lib/mqtt-codec.js'
import { MqttSession, type SessionEvents, type SessionOptions } from '../k6/lib/session.js'

/**
 * The k6 scripts' MqttSession (loadtest/k6/lib/session.ts: codec, keep alive, QoS 0/1/2) over a
 * plain TCP socket, for the devices harness: the same client logic the k6 scenarios run, here on
 * `net.connect` with a chosen loopback source address. It owns no timers: the caller ticks.
 */

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now()

export interface TcpDeviceOptions extends SessionOptions {
  readonly port: number
  readonly host?: string
  /** Source address (127.0.0.x): each one has its own ephemeral port range. */
  readonly localAddress?: string
  /** Source port: an explicit one spares the kernel's search for a free port, which grows with every socket bound to the address. */
  readonly localPort?: number
}

export interface TcpDevice {
  readonly session: MqttSession
  readonly socket: Socket
  readonly startedAt: number
  /** Resolves with the CONNACK (any reason code); rejects on a socket error, timeout or close first. */
  readonly ready: Promise<ConnackPacket>
  /** Closes without DISCONNECT (a network drop). */
  drop: () => void
  /** DISCONNECT, then close; `endSession` also ends an MQTT 5 persistent session. */
  close: (endSession?: boolean) => void
}

export function openTcpDevice (o: TcpDeviceOptions, events: SessionEvents = {}): TcpDevice {
  const startedAt = wallNow()
  const socket = netConnect({ host: o.host ?? '127.0.0.1', port: o.port, ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}), ...(o.localPort !== undefined ? { localPort: o.localPort } : {}) })
  socket.setNoDelay(true)
  let settle: { resolve: (p: ConnackPacket) => void, reject: (e: Error) => void } | undefined
  const ready = new Promise<ConnackPacket>((resolve, reject) => { settle = { resolve, reject } })
  // the rejection is also reported through events.error; nobody has to await `ready`
  ready.catch(() => {})
  const fail = (why: string): void => {
    settle?.reject(new Error(why))
    settle = undefined
  }
  const session = new MqttSession(o, {
    send: (bytes) => { if (!socket.destroyed) socket.write(bytes) },
    // end(), not destroy(): a queued DISCONNECT still leaves
    close: () => { socket.end() }
  }, {
    ...events,
    connack: (p, ms) => {
      settle?.resolve(p)
      settle = undefined
      events.connack?.(p, ms)
    },
    error: (why) => {
      fail(why)
      events.error?.(why)
    }
  }, wallNow)
  socket.once('connect', () => session.start())
  socket.on('data', (chunk: Buffer) => session.receive(chunk))
  let socketError: string | undefined
  socket.on('error', (err) => {
    socketError ??= err.message
    fail(err.message)
  })
  socket.once('close', () => {
    fail('connection closed')
    if (session.state !== 'closed') {
      session.closed()
      events.error?.(socketError ?? 'connection closed by the server')
    }
  })
  return {
    session,
    socket,
    startedAt,
    ready,
    drop: () => {
      session.closed()
      socket.destroy()
    },
    close: (endSession = false) => {
      if (session.state === 'connected') {
        session.disconnect(endSession)
      } else {
        session.closed()
        socket.destroy()
      }
    }
  }
}
