import { connect as netConnect, type Socket } from 'node:net'
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet'

/**
 * The load generator's MQTT client: a raw `net` socket with mqtt-packet's parser and hand-built
 * acks. No reconnect, no stores, no per-message allocation beyond what the parser does, so the
 * generator costs far less CPU than the broker it measures.
 */
export interface ClientOptions {
  readonly port: number
  readonly clientId: string
  readonly protocolVersion: 4 | 5
  readonly keepalive?: number
  readonly timeoutMs?: number
}

export type PublishHandler = (payload: Buffer) => void

export class BenchClient {
  /** Inbound in-flight QoS 1 window the server allows us (CONNACK Receive Maximum; 65535 when absent). */
  serverReceiveMaximum = 65535
  /** PUBACKs received so far (publisher side). */
  acked = 0
  closed = false
  onPublish: PublishHandler = () => {}
  onAck: () => void = () => {}
  onClose: () => void = () => {}
  #pendingAcks: number[] = []
  #waiters: Array<{ cmd: Packet['cmd'], resolve: (p: Packet) => void }> = []

  private constructor (readonly socket: Socket, readonly protocolVersion: 4 | 5) {
    socket.setNoDelay(true)
    const parser = mqttPacket.parser({ protocolVersion })
    parser.on('packet', (packet: Packet) => this.#onPacket(packet))
    parser.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => {
      parser.parse(chunk)
      this.#flushAcks()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.onClose()
    })
  }

  /** Opens the socket, sends CONNECT (clean start) and resolves after a successful CONNACK. */
  static async connect (opts: ClientOptions): Promise<BenchClient> {
    const socket = netConnect({ host: '127.0.0.1', port: opts.port })
    const client = new BenchClient(socket, opts.protocolVersion)
    const timeoutMs = opts.timeoutMs ?? 10_000
    try {
      await withTimeout(new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      }), timeoutMs, `connect ${opts.clientId}`)
      const connack = client.#next('connack')
      client.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: opts.protocolVersion,
        clientId: opts.clientId,
        clean: true,
        keepalive: opts.keepalive ?? 600,
        ...(opts.protocolVersion === 5 ? { properties: { receiveMaximum: 65535 } } : {})
      })
      const packet = await withTimeout(connack, timeoutMs, `CONNACK for ${opts.clientId}`) as IConnackPacket
      const code = packet.reasonCode ?? packet.returnCode ?? 0
      if (code !== 0) throw new Error(`CONNACK ${code} for ${opts.clientId}`)
      client.serverReceiveMaximum = packet.properties?.receiveMaximum ?? 65535
      return client
    } catch (err) {
      socket.destroy()
      throw err
    }
  }

  send (packet: Packet): boolean {
    return this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }))
  }

  async subscribe (topic: string, qos: 0 | 1, timeoutMs = 10_000): Promise<void> {
    const suback = this.#next('suback')
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] })
    const packet = await withTimeout(suback, timeoutMs, `SUBACK for ${topic}`)
    const granted = packet.cmd === 'suback' ? packet.granted[0] : undefined
    if (typeof granted !== 'number' || granted >= 0x80) throw new Error(`subscribe ${topic} refused: ${String(granted)}`)
  }

  /** Sends DISCONNECT and closes; resolves once the socket is gone (or destroyed after 2 s). */
  async close (): Promise<void> {
    if (this.closed) return
    const gone = new Promise<void>((resolve) => this.socket.once('close', () => resolve()))
    this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }, { protocolVersion: this.protocolVersion }))
    const timer = setTimeout(() => this.socket.destroy(), 2000)
    await gone
    clearTimeout(timer)
  }

  #onPacket (packet: Packet): void {
    if (packet.cmd === 'publish') {
      if (packet.qos === 1 && packet.messageId !== undefined) this.#pendingAcks.push(packet.messageId)
      this.onPublish(packet.payload as Buffer)
      return
    }
    if (packet.cmd === 'puback') {
      this.acked++
      this.onAck()
      return
    }
    const index = this.#waiters.findIndex((w) => w.cmd === packet.cmd)
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1)
      waiter?.resolve(packet)
    }
  }

  /** One write per received chunk: every PUBACK as 4 bytes (v5 reason 0x00 may be omitted, MQTT-3.4.2.1). */
  #flushAcks (): void {
    const ids = this.#pendingAcks
    if (ids.length === 0 || this.closed) return
    const buf = Buffer.allocUnsafe(ids.length * 4)
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] ?? 0
      buf[i * 4] = 0x40
      buf[i * 4 + 1] = 0x02
      buf.writeUInt16BE(id, i * 4 + 2)
    }
    this.#pendingAcks = []
    this.socket.write(buf)
  }

  async #next (cmd: Packet['cmd']): Promise<Packet> {
    return await new Promise<Packet>((resolve) => this.#waiters.push({ cmd, resolve }))
  }
}

/** Rejects with a message naming what timed out; clears its timer either way. */
export async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Connects `count` clients with at most `concurrency` handshakes in flight (keeps the listen backlog happy). */
export async function connectMany (count: number, concurrency: number, make: (i: number) => ClientOptions): Promise<BenchClient[]> {
  const clients: BenchClient[] = new Array<BenchClient>(count)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      clients[i] = await BenchClient.connect(make(i))
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  } catch (err) {
    await Promise.all(clients.filter((c) => c !== undefined).map(async (c) => await c.close()))
    throw err
  }
  return clients
}
