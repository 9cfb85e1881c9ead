import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'

/**
 * The chaos run's clients, all with persistent sessions through the load balancer: publishers at
 * QoS 1 and 2 that count what they sent and what the broker acknowledged (PUBACK, PUBCOMP), and
 * receivers (plain subscribers, and a `$share` group whose members count as one receiver) that
 * record every copy they get. A payload is `<publisher>:<sequence>`.
 */

export type Qos = 1 | 2

export interface PublisherSpec { readonly name: string, readonly qos: Qos, readonly protocolVersion: 4 | 5 }

export interface PublisherStats {
  readonly name: string
  readonly qos: Qos
  /** publish() calls, by sequence: when it was called. */
  readonly sentAt: number[]
  /** Sequences the broker acknowledged (PUBACK for QoS 1, PUBCOMP for QoS 2). */
  readonly acked: Set<number>
  /** Publishes mqtt.js reported as failed (it gives up only when the client ends). */
  failed: number
}

export interface ReceiverStats {
  readonly name: string
  /** Members (one for a plain subscriber). */
  readonly members: readonly string[]
  /** Copies received per `<publisher>:<sequence>`. */
  readonly copies: Map<string, number>
  /** Per publisher: [sequence, receive time] in arrival order. */
  readonly arrivals: Map<string, Array<[number, number]>>
  /** Copies per member (how a group spread its messages). */
  readonly perMember: Map<string, number>
}

export interface SessionEvents {
  /** Reconnects, all clients. */
  reconnects: number
  /** Subscriber reconnects whose CONNACK said the session was gone (a persistent session lost). */
  sessionsLost: number
  /** The first 50 of those: client id and when. */
  readonly lostSessions: Array<{ clientId: string, at: number }>
  /**
   * Publisher reconnects with Session Present 0. Expected: aedes reports a session as present
   * only when it has subscriptions stored, and publishers subscribe to nothing.
   */
  publisherSessionsNotPresent: number
}

const SESSION_EXPIRY_S = 3600

function clientOptions (clientId: string, protocolVersion: 4 | 5): IClientOptions {
  return {
    clientId,
    protocolVersion,
    clean: false,
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_S } } : {}),
    reconnectPeriod: 500,
    connectTimeout: 5000,
    // Short keep alive: a connection through a paused Redis or a dead pod is noticed within seconds.
    keepalive: 10,
    resubscribe: true
  }
}

function track (client: MqttClient, events: SessionEvents, role: 'subscriber' | 'publisher'): void {
  let first = true
  client.on('connect', (connack) => {
    if (!first) {
      events.reconnects++
      if (connack.sessionPresent !== true && role === 'publisher') events.publisherSessionsNotPresent++
      else if (connack.sessionPresent !== true) {
        events.sessionsLost++
        if (events.lostSessions.length < 50) events.lostSessions.push({ clientId: client.options.clientId ?? '', at: Date.now() })
      }
    }
    first = false
  })
  // mqtt.js reconnects by itself; errors (a refused CONNACK while a pod starts) are expected here.
  client.on('error', () => {})
}

function connected (client: MqttClient, timeoutMs: number, what: string): Promise<void> {
  if (client.connected) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not connected within ${timeoutMs} ms`)), timeoutMs)
    client.once('connect', () => { clearTimeout(timer); resolve() })
  })
}

export function endClient (client: MqttClient): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => { client.stream?.destroy(); resolve() }, 2000)
    client.end(true, {}, () => { clearTimeout(timer); resolve() })
  })
}

export class Receiver {
  readonly stats: ReceiverStats
  readonly clients: MqttClient[] = []

  private constructor (name: string, members: readonly string[]) {
    this.stats = { name, members, copies: new Map(), arrivals: new Map(), perMember: new Map() }
  }

  /**
   * A plain subscriber (one member) or a `$share/<group>/` group (several), each member a
   * persistent session subscribed at QoS 2 to `filter`; resolves once every SUBACK is in.
   */
  static async start (url: string, runId: string, name: string, members: ReadonlyArray<{ id: string, protocolVersion: 4 | 5 }>, filter: string, events: SessionEvents): Promise<Receiver> {
    const receiver = new Receiver(name, members.map((m) => m.id))
    for (const member of members) {
      const client = mqtt.connect(url, clientOptions(`chaos-${runId}-${member.id}`, member.protocolVersion))
      track(client, events, 'subscriber')
      receiver.clients.push(client)
      client.on('message', (_topic, payload) => receiver.record(member.id, payload.toString()))
      await connected(client, 15_000, member.id)
      await client.subscribeAsync(filter, { qos: 2 })
    }
    return receiver
  }

  private record (member: string, payload: string): void {
    const colon = payload.lastIndexOf(':')
    const publisher = payload.slice(0, colon)
    const seq = Number(payload.slice(colon + 1))
    this.stats.copies.set(payload, (this.stats.copies.get(payload) ?? 0) + 1)
    this.stats.perMember.set(member, (this.stats.perMember.get(member) ?? 0) + 1)
    let list = this.stats.arrivals.get(publisher)
    if (list === undefined) this.stats.arrivals.set(publisher, list = [])
    list.push([seq, Date.now()])
  }

  async stop (): Promise<void> {
    await Promise.all(this.clients.map(endClient))
  }
}

export class Publisher {
  readonly stats: PublisherStats
  private inFlight = 0
  private timer: NodeJS.Timeout | undefined

  private constructor (readonly client: MqttClient, private readonly topic: string, spec: PublisherSpec) {
    this.stats = { name: spec.name, qos: spec.qos, sentAt: [], acked: new Set(), failed: 0 }
  }

  static async start (url: string, runId: string, spec: PublisherSpec, topicPrefix: string, events: SessionEvents): Promise<Publisher> {
    const client = mqtt.connect(url, clientOptions(`chaos-${runId}-${spec.name}`, spec.protocolVersion))
    track(client, events, 'publisher')
    await connected(client, 15_000, spec.name)
    return new Publisher(client, `${topicPrefix}/${spec.name}`, spec)
  }

  /**
   * Publishes `ratePerSecond` messages a second while fewer than `window` are unacknowledged
   * (a tick with a full window is skipped, so a stalled broker does not pile up work here).
   */
  run (ratePerSecond: number, window: number): void {
    const everyMs = Math.max(1, Math.round(1000 / ratePerSecond))
    this.timer = setInterval(() => {
      if (this.inFlight >= window) return
      const seq = this.stats.sentAt.length
      this.stats.sentAt.push(Date.now())
      this.inFlight++
      // With clean: false mqtt.js keeps the message until acknowledged and resends it after a
      // reconnect (DUP), so the callback fires once the broker took responsibility for it.
      this.client.publish(this.topic, `${this.stats.name}:${seq}`, { qos: this.stats.qos }, (err) => {
        this.inFlight--
        if (err === undefined || err === null) this.stats.acked.add(seq)
        else this.stats.failed++
      })
    }, everyMs)
  }

  halt (): void {
    clearInterval(this.timer)
  }

  unacknowledged (): number {
    return this.inFlight
  }

  async stop (): Promise<void> {
    this.halt()
    await endClient(this.client)
  }
}
