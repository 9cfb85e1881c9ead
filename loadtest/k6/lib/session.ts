/**
 * One MQTT client session over any byte transport (a k6 WebSocket in the scripts, Node's `ws` in
 * the tests): CONNECT/CONNACK, keep-alive, QoS 0/1/2 in both directions, SUBSCRIBE/UNSUBSCRIBE,
 * DISCONNECT. It owns no timers: the caller calls tick() (one timer per k6 VU serves thousands
 * of sessions). Pure TypeScript; no k6 or Node APIs.
 */
import { MqttDecoder } from './mqtt-stream.ts'
import { encode, utf8Encode, type ConnackPacket, type MqttPacket, type ProtocolVersion, type PublishPacket, type QoS, type Subscription } from './mqtt-codec.ts'

export interface Transport { send (bytes: Uint8Array): void, close (): void }

export interface SessionOptions {
  version: ProtocolVersion
  clientId: string
  username?: string
  password?: string
  keepaliveSec: number
  clean: boolean
  /** MQTT 5 Session Expiry Interval in seconds (3.1.2.11.2); ignored for 3.1.1. */
  sessionExpirySec?: number
  connectTimeoutMs: number
}

export interface SessionEvents {
  /** CONNACK arrived; `reasonCode` 0 is success (3.1.1 §3.2.2.3, 5.0 §3.2.2.2). */
  connack? (packet: ConnackPacket, elapsedMs: number): void
  /** An application message arrived (QoS 2: once, on PUBLISH, duplicates filtered until PUBREL). */
  message? (packet: PublishPacket): void
  /** Our QoS 1/2 PUBLISH completed (PUBACK or PUBCOMP); `reasonCode` ≥ 0x80 is a failure (5.0). */
  acked? (packetId: number, reasonCode: number, elapsedMs: number): void
  suback? (packetId: number, reasonCodes: number[]): void
  unsuback? (packetId: number, reasonCodes: number[]): void
  pong? (elapsedMs: number): void
  /** The session failed (malformed input, refused CONNACK, timeout, server DISCONNECT); the transport is closed. */
  error? (why: string): void
}

export type SessionState = 'idle' | 'connecting' | 'connected' | 'closed'

export class MqttSession {
  state: SessionState = 'idle'
  /** Send quota: the server's Receive Maximum (5.0 §3.2.2.3.3); 3.1.1 has none, so a local cap. */
  sendQuota = 65_535
  private readonly decoder: MqttDecoder
  private nextId = 1
  private startedAt = 0
  private lastSent = 0
  private pingSentAt = 0
  /** Keep alive in ms: ours, or the server's Server Keep Alive when it sends one [MQTT-3.2.2-21]. */
  private keepaliveMs: number
  /** Outgoing QoS 1/2 messages awaiting PUBACK/PUBCOMP: packet id → send time. */
  private readonly outgoing = new Map<number, number>()
  /** Incoming QoS 2 messages awaiting PUBREL [MQTT-4.3.3-9]. */
  private readonly incomingQos2 = new Set<number>()
  private readonly pendingSubs = new Set<number>()

  constructor (
    readonly options: SessionOptions,
    private readonly transport: Transport,
    private readonly events: SessionEvents,
    private readonly now: () => number = () => Date.now()
  ) {
    this.decoder = new MqttDecoder(options.version)
    this.keepaliveMs = options.keepaliveSec * 1000
    this.startedAt = now()
  }

  get inflight (): number { return this.outgoing.size }

  /** Sends CONNECT; call once the transport is open. */
  start (): void {
    const o = this.options
    this.state = 'connecting'
    const connect: MqttPacket = { type: 'connect', protocolVersion: o.version, clientId: o.clientId, clean: o.clean, keepalive: o.keepaliveSec }
    if (o.username !== undefined) connect.username = o.username
    if (o.password !== undefined) connect.password = utf8Encode(o.password) // Binary Data (5.0 §3.1.3.6): tokens go as their UTF-8 bytes
    if (o.version === 5 && o.sessionExpirySec !== undefined && o.sessionExpirySec > 0) connect.properties = { sessionExpiryInterval: o.sessionExpirySec }
    this.send(connect)
  }

  /** Feeds bytes from the transport. */
  receive (bytes: Uint8Array | ArrayBuffer): void {
    if (this.state === 'closed') return
    let packets: MqttPacket[]
    try {
      packets = this.decoder.push(bytes)
    } catch (err) {
      this.fail(`malformed packet from server: ${(err as Error).message}`)
      return
    }
    for (const p of packets) {
      if ((this.state as SessionState) === 'closed') return // a packet may have closed it
      this.handle(p)
    }
  }

  private handle (p: MqttPacket): void {
    const now = this.now()
    switch (p.type) {
      case 'connack':
        if (this.state !== 'connecting') { this.fail('second CONNACK [MQTT-3.2.0-2]'); return }
        if (p.reasonCode !== 0) {
          this.events.connack?.(p, now - this.startedAt)
          this.fail(`connection refused, reason 0x${p.reasonCode.toString(16)}`)
          return
        }
        this.state = 'connected'
        if (p.properties?.receiveMaximum !== undefined) this.sendQuota = p.properties.receiveMaximum
        if (p.properties?.serverKeepAlive !== undefined) this.keepaliveMs = p.properties.serverKeepAlive * 1000
        this.events.connack?.(p, now - this.startedAt)
        return
      case 'publish':
        this.onPublish(p)
        return
      case 'puback': case 'pubcomp': {
        const sentAt = this.outgoing.get(p.packetId)
        if (sentAt === undefined) return
        this.outgoing.delete(p.packetId)
        this.events.acked?.(p.packetId, p.reasonCode, now - sentAt)
        return
      }
      case 'pubrec': {
        const sentAt = this.outgoing.get(p.packetId)
        // 5.0 §4.3.3: a PUBREC with a failure reason ends the exchange; otherwise answer PUBREL.
        if (p.reasonCode >= 0x80) {
          this.outgoing.delete(p.packetId)
          if (sentAt !== undefined) this.events.acked?.(p.packetId, p.reasonCode, now - sentAt)
          return
        }
        this.send({ type: 'pubrel', packetId: p.packetId, reasonCode: sentAt === undefined ? 0x92 : 0 })
        return
      }
      case 'pubrel':
        // Release the QoS 2 message and answer PUBCOMP [MQTT-4.3.3-11] (0x92: identifier not found, 5.0).
        this.send({ type: 'pubcomp', packetId: p.packetId, reasonCode: this.incomingQos2.delete(p.packetId) || this.options.version === 4 ? 0 : 0x92 })
        return
      case 'suback': case 'unsuback':
        this.pendingSubs.delete(p.packetId)
        if (p.type === 'suback') this.events.suback?.(p.packetId, p.reasonCodes)
        else this.events.unsuback?.(p.packetId, p.reasonCodes)
        return
      case 'pingresp':
        if (this.pingSentAt !== 0) this.events.pong?.(now - this.pingSentAt)
        this.pingSentAt = 0
        return
      case 'disconnect':
        this.fail(`server sent DISCONNECT, reason 0x${p.reasonCode.toString(16)}`)
        return
      default:
        this.fail(`unexpected ${p.type} from server`)
    }
  }

  private onPublish (p: PublishPacket): void {
    if (p.qos === 1) {
      this.events.message?.(p)
      this.send({ type: 'puback', packetId: p.packetId as number, reasonCode: 0 })
      return
    }
    if (p.qos === 2) {
      const id = p.packetId as number
      // Method B of 3.1.1 §4.3.3 / 5.0 §4.3.3: deliver on first PUBLISH, ignore it again until PUBREL.
      if (!this.incomingQos2.has(id)) { this.incomingQos2.add(id); this.events.message?.(p) }
      this.send({ type: 'pubrec', packetId: id, reasonCode: 0 })
      return
    }
    this.events.message?.(p)
  }

  /** Publishes; returns the packet id (0 for QoS 0), or undefined when the send quota is used up. */
  publish (topic: string, payload: Uint8Array, qos: QoS, retain = false): number | undefined {
    if (this.state !== 'connected') return undefined
    if (qos === 0) { this.send({ type: 'publish', topic, payload, qos, retain, dup: false }); return 0 }
    // Do not exceed the server's Receive Maximum [MQTT-3.3.4-7].
    if (this.outgoing.size >= this.sendQuota) return undefined
    const packetId = this.allocateId()
    this.outgoing.set(packetId, this.now())
    this.send({ type: 'publish', topic, payload, qos, retain, dup: false, packetId })
    return packetId
  }

  subscribe (subscriptions: Subscription[]): number {
    const packetId = this.allocateId()
    this.pendingSubs.add(packetId)
    this.send({ type: 'subscribe', packetId, subscriptions })
    return packetId
  }

  unsubscribe (topics: string[]): number {
    const packetId = this.allocateId()
    this.pendingSubs.add(packetId)
    this.send({ type: 'unsubscribe', packetId, topics })
    return packetId
  }

  /**
   * Sends DISCONNECT (normal, no will) and closes the transport. `endSession` (MQTT 5) sets the
   * Session Expiry Interval to 0 so a persistent session ends now (allowed from non-zero, [MQTT-3.14.2-2]).
   */
  disconnect (endSession = false): void {
    if (this.state === 'closed') return
    if (this.state === 'connected') {
      const expire = endSession && this.options.version === 5 && (this.options.sessionExpirySec ?? 0) > 0
      this.send(expire ? { type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } } : { type: 'disconnect', reasonCode: 0 })
    }
    this.state = 'closed'
    this.transport.close()
  }

  /** The transport closed (by either side). */
  closed (): void { this.state = 'closed' }

  /**
   * Timers: CONNACK timeout, PINGREQ when idle for 3/4 of the keep alive (3.1.1 §3.1.2.10,
   * 5.0 §3.1.2.10), and giving up when no PINGRESP came within the keep alive.
   */
  tick (now = this.now()): void {
    // The connect timeout runs from construction: it covers the transport's handshake too.
    if ((this.state === 'idle' || this.state === 'connecting') && now - this.startedAt > this.options.connectTimeoutMs) {
      this.fail(`no CONNACK within ${this.options.connectTimeoutMs} ms`)
      return
    }
    const ka = this.keepaliveMs
    if (this.state !== 'connected' || ka === 0) return
    if (this.pingSentAt !== 0 && now - this.pingSentAt > ka) { this.fail('no PINGRESP within the keep alive'); return }
    if (this.pingSentAt === 0 && now - this.lastSent >= ka * 0.75) {
      this.pingSentAt = now
      this.send({ type: 'pingreq' })
    }
  }

  private allocateId (): number {
    for (let i = 0; i < 65_535; i++) {
      const id = this.nextId
      this.nextId = id === 65_535 ? 1 : id + 1
      if (!this.outgoing.has(id) && !this.pendingSubs.has(id)) return id
    }
    throw new Error('all 65535 packet identifiers are in use')
  }

  private send (p: MqttPacket): void {
    this.lastSent = this.now()
    this.transport.send(encode(p, this.options.version))
  }

  private fail (why: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.events.error?.(why)
    this.transport.close()
  }
}
