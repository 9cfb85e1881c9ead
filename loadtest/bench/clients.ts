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
  /** Clean start (default true); false with `sessionExpiry` (v5) keeps a persistent session. */
  readonly clean?: boolean
  /** MQTT 5 Session Expiry Interval in seconds (only sent when > 0). */
  readonly sessionExpiry?: number
  /** CONNECT username and password (a Starling token goes in the password). */
  readonly username?: string
  readonly password?: string
}

/** A received PUBLISH payload: `buf[offset, offset + length)` (valid only during the call). */
export type PublishHandler = (buf: Buffer, offset: number, length: number) => void

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
  #rest: Buffer | null = null
  #flushScheduled = false
  #waiters: Array<{ cmd: Packet['cmd'], resolve: (p: Packet) => void }> = []

  private constructor (readonly socket: Socket, readonly protocolVersion: 4 | 5) {
    socket.setNoDelay(true)
    // Control packets (CONNACK, SUBACK, ...) go through mqtt-packet's parser; PUBLISH and PUBACK,
    // the whole load, are framed and read here without allocating a packet object per message.
    const parser = mqttPacket.parser({ protocolVersion })
    parser.on('packet', (packet: Packet) => this.#onPacket(packet))
    parser.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => {
      this.#read(chunk, parser)
      // PUBACKs of every chunk read in this event-loop turn leave in one write: a broker that
      // writes each PUBLISH as its own segment would otherwise cost one write per message here.
      if (this.#pendingAcks.length > 0 && !this.#flushScheduled) {
        this.#flushScheduled = true
        setImmediate(() => this.#flushAcks())
      }
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
        clean: opts.clean ?? true,
        keepalive: opts.keepalive ?? 600,
        ...(opts.username !== undefined ? { username: opts.username } : {}),
        ...(opts.password !== undefined ? { password: Buffer.from(opts.password) } : {}),
        ...(opts.protocolVersion === 5
          ? { properties: { receiveMaximum: 65535, ...((opts.sessionExpiry ?? 0) > 0 ? { sessionExpiryInterval: opts.sessionExpiry } : {}) } }
          : {})
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

  /** One SUBSCRIBE with every filter of `topic` (a string or a list); resolves on a SUBACK granting all. */
  async subscribe (topic: string | readonly string[], qos: 0 | 1, timeoutMs = 10_000): Promise<void> {
    const topics = typeof topic === 'string' ? [topic] : topic
    const suback = this.#next('suback')
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics.map((t) => ({ topic: t, qos })) })
    const packet = await withTimeout(suback, timeoutMs, `SUBACK for ${topics[0] ?? ''} (${topics.length} filters)`)
    const granted = packet.cmd === 'suback' ? packet.granted : []
    if (granted.length !== topics.length || granted.some((g) => typeof g !== 'number' || g >= 0x80)) {
      throw new Error(`subscribe ${topics[0] ?? ''} (${topics.length} filters) refused: ${granted.map(String).join(',')}`)
    }
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

  /**
   * Splits the stream into MQTT frames. PUBLISH (payload handed to onPublish, QoS 1 id queued
   * for the batched PUBACK) and PUBACK are handled inline; other frames go to mqtt-packet.
   */
  #read (chunk: Buffer, parser: ReturnType<typeof mqttPacket.parser>): void {
    let buf = chunk
    if (this.#rest !== null) {
      buf = Buffer.concat([this.#rest, chunk])
      this.#rest = null
    }
    let pos = 0
    const end = buf.length
    while (pos < end) {
      // fixed header: type/flags byte, then the Remaining Length varint (1-4 bytes)
      let len = 0
      let mul = 1
      let i = pos + 1
      let complete = false
      for (; i < end && i < pos + 5; i++) {
        const byte = buf[i] ?? 0
        len += (byte & 0x7f) * mul
        mul *= 128
        if ((byte & 0x80) === 0) {
          complete = true
          i++
          break
        }
      }
      if (!complete || i + len > end) break
      const first = buf[pos] ?? 0
      const type = first >> 4
      if (type === 3) {
        const qos = (first >> 1) & 3
        let p = i + 2 + buf.readUInt16BE(i)
        if (qos > 0) {
          this.#pendingAcks.push(buf.readUInt16BE(p))
          p += 2
        }
        if (this.protocolVersion === 5) {
          let propLen = 0
          let m = 1
          for (let k = 0; k < 4; k++) {
            const byte = buf[p++] ?? 0
            propLen += (byte & 0x7f) * m
            m *= 128
            if ((byte & 0x80) === 0) break
          }
          p += propLen
        }
        this.onPublish(buf, p, i + len - p)
      } else if (type === 4) {
        this.acked++
        this.onAck()
      } else {
        parser.parse(buf.subarray(pos, i + len))
      }
      pos = i + len
    }
    if (pos < end) this.#rest = Buffer.from(buf.subarray(pos))
  }

  #onPacket (packet: Packet): void {
    const index = this.#waiters.findIndex((w) => w.cmd === packet.cmd)
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1)
      waiter?.resolve(packet)
    }
  }

  /** One write per event-loop turn: every PUBACK as 4 bytes (v5 reason 0x00 may be omitted, MQTT-3.4.2.1). */
  #flushAcks (): void {
    this.#flushScheduled = false
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
