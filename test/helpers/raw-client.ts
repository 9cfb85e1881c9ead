import { connect, type Socket } from 'node:net'
import type { TestContext } from 'node:test'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { waitFor } from './clients.js'

/**
 * A bare MQTT client over `net.connect` for packets mqtt.js cannot express (a client that never
 * acks, a DISCONNECT with odd properties, a socket that never sends CONNECT). It records every
 * packet the broker sends and whether the socket closed.
 */
export class RawClient {
  readonly socket: Socket
  readonly received: Packet[] = []
  closed = false
  /** Called for every packet the broker sends, after it is recorded (e.g. to ack automatically). */
  onPacket: ((packet: Packet) => void) | undefined
  readonly #version: number

  constructor (socket: Socket, protocolVersion: number) {
    this.socket = socket
    this.#version = protocolVersion
    const parser = mqttPacket.parser({ protocolVersion })
    parser.on('packet', (packet: Packet) => {
      this.received.push(packet)
      this.onPacket?.(packet)
    })
    parser.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => parser.parse(chunk))
    socket.on('error', () => {})
    socket.on('close', () => { this.closed = true })
  }

  send (packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.#version }))
  }

  /** Writes bytes as they are, for packets mqtt-packet refuses to generate. */
  sendBytes (bytes: Buffer | readonly number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes))
  }

  /** Resolves with the first received packet of `cmd` (optionally matching `where`). */
  async next<T extends Packet = Packet> (cmd: Packet['cmd'], timeoutMs = 5000, where: (p: T) => boolean = () => true): Promise<T> {
    let found: T | undefined
    await waitFor(() => {
      found = this.received.find((p) => p.cmd === cmd && where(p as T)) as T | undefined
      return found !== undefined
    }, timeoutMs, `${cmd} packet`)
    return found as T
  }

  async waitClosed (timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.closed, timeoutMs, 'socket close')
  }

  destroy (): void {
    this.socket.destroy()
  }
}

/** Opens a TCP connection to the broker (destroyed after the test); sends nothing yet. */
export async function rawConnect (t: TestContext | undefined, port: number, protocolVersion = 5): Promise<RawClient> {
  const socket = connect({ host: '127.0.0.1', port })
  t?.after(() => { socket.destroy() })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return new RawClient(socket, protocolVersion)
}

/** Opens a connection and completes an MQTT CONNECT; `connect` fields override the defaults. */
export async function rawMqttConnect (t: TestContext | undefined, port: number, connect: Partial<Packet> & { protocolVersion?: 4 | 5, clientId: string }): Promise<{ client: RawClient, connack: Packet }> {
  const protocolVersion = connect.protocolVersion ?? 5
  const client = await rawConnect(t, port, protocolVersion)
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, keepalive: 60, ...connect } as Packet)
  const connack = await client.next('connack')
  return { client, connack }
}
