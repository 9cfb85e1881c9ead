import { createServer, type Server, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { Counter, type Registry } from 'prom-client'
import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { BrokerRecord, TokenAuthority } from '../tenancy/types.js'
import { FailureBackoff } from './backoff.js'
import type { DeviceStore } from './devices.js'
import { encodeAuthMessage } from './message.js'

/** The one topic a device subscribes to (ClearBlade's JWT flavour; its legacy `v/1/auth` is not served). */
export const AUTH_TOPIC = 'auth'
/** Bytes one auth connection may send in all: a CONNECT, a SUBSCRIBE, a PINGREQ or two. */
const MAX_INPUT_BYTES = 16 * 1024

export interface MqttAuthDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly registry?: Registry
  /** A broker by its id (the CONNECT username). */
  readonly brokerById: (id: string) => BrokerRecord | undefined
  readonly devices: DeviceStore
  readonly tokens: TokenAuthority
}

export interface MqttAuthListener {
  readonly address: { readonly host: string, readonly port: number }
  close (): Promise<void>
}

type Result = 'issued' | 'refused' | 'error'

/**
 * Auth over MQTT (ClearBlade's flow) on its own port: a tiny single-purpose MQTT server over raw
 * TCP with mqtt-packet, not a second aedes — it needs CONNECT, SUBSCRIBE to `auth`, one PUBLISH
 * and a DISCONNECT, and none of sessions, routing or persistence. A device connects with
 * username = its broker's id and client id `<device name>:<key>`; a wrong key (or an unknown
 * device or broker) gets CONNACK 5 (3.1.1) / 0x87 (MQTT 5) after a per-address delay that grows
 * with each failure. After SUBSCRIBE `auth` it receives one message (message.ts), QoS 0, then
 * DISCONNECT. Each connection is bounded in time (mqttAuth.timeoutMs) and input; at most
 * mqttAuth.maxConnections are open at once.
 */
export async function startMqttAuthListener (deps: MqttAuthDeps): Promise<MqttAuthListener> {
  const { config, logger } = deps
  const settings = config.mqttAuth
  const backoff = new FailureBackoff(settings.failureDelayMaxMs)
  const registers = deps.registry !== undefined ? [deps.registry] : []
  const attempts = new Counter({ name: 'starling_mqtt_auth_attempts_total', help: 'Auth-over-MQTT CONNECTs by result: issued (token sent), refused (unknown device or broker, wrong key), error', labelNames: ['result'], registers })
  const sockets = new Set<Socket>()
  const count = (result: Result): void => { attempts.inc({ result }) }

  const server: Server = createServer((socket) => {
    if (sockets.size >= settings.maxConnections) { socket.destroy(); return }
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    socket.setTimeout(settings.timeoutMs, () => socket.destroy())
    serveConnection(socket, { deps, backoff, count, logger })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new StarlingError('STARLING_ERR_LISTEN', [`mqtt-auth ${settings.host}:${settings.port}`, err.message], { cause: err })))
    server.listen(settings.port, settings.host, () => resolve())
  })
  const bound = server.address()
  const port = typeof bound === 'object' && bound !== null ? bound.port : settings.port
  logger.info({ host: settings.host, port }, 'auth over MQTT listening')
  let closing: Promise<void> | undefined
  return {
    address: { host: settings.host, port },
    close () {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return closing
    }
  }
}

interface ConnectionDeps {
  readonly deps: MqttAuthDeps
  readonly backoff: FailureBackoff
  readonly count: (result: Result) => void
  readonly logger: Logger
}

function serveConnection (socket: Socket, c: ConnectionDeps): void {
  const parser = mqttPacket.parser()
  let version = 4
  let state: 'connect' | 'checking' | 'subscribe' | 'done' = 'connect'
  let granted: { broker: BrokerRecord, device: string } | undefined
  let received = 0
  const address = socket.remoteAddress
  const send = (packet: mqttPacket.Packet): void => {
    if (!socket.destroyed) socket.write(mqttPacket.generate(packet, { protocolVersion: version }))
  }
  const finish = (): void => { state = 'done'; socket.end() }

  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (received > MAX_INPUT_BYTES) { socket.destroy(); return }
    parser.parse(chunk)
  })
  parser.on('error', () => socket.destroy())
  parser.on('packet', (packet) => {
    if (state === 'connect' && packet.cmd === 'connect') {
      state = 'checking'
      version = packet.protocolVersion ?? 4
      void authenticate(packet.username, packet.clientId).then((ok) => {
        if (socket.destroyed) return
        if (ok === undefined) {
          c.count('refused')
          // [MQTT-3.2.2-5] a refusing CONNACK is followed by closing the connection.
          send(version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: 0x87 } : { cmd: 'connack', sessionPresent: false, returnCode: 5 })
          finish()
          return
        }
        granted = ok
        state = 'subscribe'
        // No session is kept: Session Present 0 [MQTT-3.2.2-1].
        send(version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: 0 } : { cmd: 'connack', sessionPresent: false, returnCode: 0 })
      }, (err: Error) => {
        c.count('error')
        c.logger.warn({ err: err.message }, 'auth over MQTT: CONNECT failed')
        send(version === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: 0x80 } : { cmd: 'connack', sessionPresent: false, returnCode: 3 })
        finish()
      })
    } else if (state === 'subscribe' && packet.cmd === 'subscribe' && granted !== undefined) {
      const wantsAuth = packet.subscriptions.some((sub) => sub.topic === AUTH_TOPIC)
      const refusal = version === 5 ? 0x87 : 0x80
      send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map((sub) => sub.topic === AUTH_TOPIC ? 0 : refusal) } as mqttPacket.Packet)
      if (!wantsAuth) return
      state = 'done'
      const { broker, device } = granted
      void deliverToken(broker, device).then((payload) => {
        send({ cmd: 'publish', topic: AUTH_TOPIC, payload, qos: 0, retain: false, dup: false })
        c.count('issued')
        c.logger.info({ broker: broker.name, namespace: broker.namespace, device }, 'auth over MQTT: token issued')
        if (version === 5) send({ cmd: 'disconnect', reasonCode: 0 })
        socket.end()
      }, (err: Error) => {
        c.count('error')
        c.logger.warn({ err: err.message, device }, 'auth over MQTT: token not issued')
        if (version === 5) send({ cmd: 'disconnect', reasonCode: 0x80 })
        socket.end()
      })
    } else if (packet.cmd === 'pingreq') {
      send({ cmd: 'pingresp' })
    } else if (packet.cmd === 'disconnect') {
      socket.end()
    } else if (state !== 'checking') {
      // Anything else (a second CONNECT, PUBLISH...) is a protocol error here [MQTT-3.1.0-2].
      socket.destroy()
    }
  })

  /** The broker and device a CONNECT names, if its key is right; undefined otherwise. Slowed per address after failures. */
  async function authenticate (username: string | undefined, clientId: string): Promise<{ broker: BrokerRecord, device: string } | undefined> {
    const delay = c.backoff.delayMs(address)
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
    const colon = clientId.indexOf(':')
    const device = colon > 0 ? clientId.slice(0, colon) : ''
    const key = colon > 0 ? clientId.slice(colon + 1) : ''
    const broker = username !== undefined ? c.deps.brokerById(username) : undefined
    // The key is checked (and costs its time) even for an unknown broker, so timing tells nothing.
    const ok = await c.deps.devices.check(broker?.id ?? '', device, key) && broker !== undefined && broker.authType === 'TOKEN'
    if (!ok) {
      c.backoff.recordFailure(address)
      c.logger.info({ device, remoteAddress: address }, 'auth over MQTT: refused (unknown device or broker, or wrong key)')
      return undefined
    }
    return { broker, device }
  }

  async function deliverToken (broker: BrokerRecord, device: string): Promise<Buffer> {
    const settings = c.deps.config.mqttAuth
    const issued = await c.deps.tokens.issue(broker, { number: 1, clientId: device, ...(settings.tokenExpirySeconds > 0 ? { expiresInSeconds: settings.tokenExpirySeconds } : {}) })
    const token = issued[device]
    if (token === undefined) throw new StarlingError('STARLING_ERR_MQTT_AUTH', ['no token issued'])
    return encodeAuthMessage(token, device, settings.endpointUrl !== '' ? settings.endpointUrl : broker.endpoint)
  }
}
