import { Counter, type Registry } from 'prom-client'
import type { Engine, PublishPacket } from '../broker/engine.js'
import type { Logger } from '../logger.js'
import type { Audience } from './audience.js'
import { ulid } from '../tenancy/ulid.js'
import type { DisconnectReason, TriggerTopic } from './names.js'

/** What an event says; every field optional but `clientId` for the messaging events. */
export interface TriggerFields {
  readonly clientId?: string
  readonly remoteAddress?: string
  readonly remotePort?: number
  readonly listener?: string
  readonly protocol?: string
  readonly reason?: DisconnectReason
  /** MQTT 5 DISCONNECT reason code the server sent (`server_disconnect`). */
  readonly reasonCode?: number
  /** SUBSCRIBE / UNSUBSCRIBE filters, in the client's own terms. */
  readonly topics?: readonly string[]
  readonly jti?: string
  readonly device?: string
  /** Which pod held the client (pod_died events: the dead one). */
  readonly podId?: string
  /** pod_died events: the survivor that published it. */
  readonly reportedBy?: string
}

/** Whose topic space an event goes to: '' for the default broker, `$t/<id>/` for a tenant broker. */
export interface TriggerSpace {
  readonly mount: string
  readonly namespace: string
  readonly broker: string
}

export interface TriggerPublisherOptions {
  readonly podId: string
  /** An event's JSON is at most this long: strings and topic lists are cut to fit. */
  readonly maxPayloadBytes: number
  readonly logger: Logger
  readonly registry?: Registry
  /**
   * Whether anyone would receive an event's topic (audience.ts): an event nobody subscribes to,
   * anywhere, is not built nor published. Absent: every event is published.
   */
  readonly audience?: Audience
}

/** Longest string field kept whole (client ids, addresses, filters); longer ones are cut. */
const MAX_FIELD_CHARS = 256

function cut (value: string): string {
  return value.length > MAX_FIELD_CHARS ? value.slice(0, MAX_FIELD_CHARS) : value
}

/**
 * Publishes `$trigger` events into a broker's topic space through the engine, like any server
 * message (QoS 1, not retained): subscribers on every pod get it through the cluster bus, and a
 * `$share/<group>/$trigger/...` group gets it once through its queue. Each event is published by
 * one pod only: the pod the thing happened on (connection events, API calls), or for a dead pod's
 * clients the survivor that claimed them (dead-pods.ts). One event per occurrence, never
 * re-published: a storm of N connects is N events.
 */
export class TriggerPublisher {
  readonly #engine: Engine
  readonly #o: TriggerPublisherOptions
  readonly #published: Counter<'event'> | undefined
  readonly #failed: Counter | undefined

  constructor (engine: Engine, options: TriggerPublisherOptions) {
    this.#engine = engine
    this.#o = options
    const registers = options.registry !== undefined ? [options.registry] : []
    this.#published = options.registry !== undefined ? new Counter({ name: 'starling_trigger_events_total', help: '$trigger events this pod published, by event topic', labelNames: ['event'], registers }) : undefined
    this.#failed = options.registry !== undefined ? new Counter({ name: 'starling_trigger_events_failed_total', help: '$trigger events this pod could not publish (engine closed, Redis away)', registers }) : undefined
  }

  /** The JSON payload of an event (bounded by maxPayloadBytes). */
  payload (topic: TriggerTopic, space: TriggerSpace, fields: TriggerFields, now = Date.now()): Buffer {
    const body: Record<string, unknown> = {
      id: ulid(now),
      event: topic.slice('$trigger/'.length),
      timestamp: new Date(now).toISOString(),
      namespace: space.namespace,
      broker: space.broker,
      podId: this.#o.podId
    }
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue
      body[key] = typeof value === 'string' ? cut(value) : value
    }
    if (fields.topics !== undefined) body.topics = fields.topics.map(cut)
    let json = JSON.stringify(body)
    // Many filters in one SUBSCRIBE: keep the first ones that fit, and say so.
    const topics = body.topics as string[] | undefined
    while (Buffer.byteLength(json) > this.#o.maxPayloadBytes && topics !== undefined && topics.length > 0) {
      topics.length = Math.floor(topics.length / 2)
      body.truncated = true
      json = JSON.stringify(body)
    }
    return Buffer.from(json)
  }

  /**
   * Publishes one event; resolves once the engine has taken it (never rejects: failures are
   * counted and logged). Skipped when nobody subscribes to its topic anywhere (`audience`): a
   * CONNECT then builds no JSON and runs no publish through the engine. `fields` may be a
   * function: called at once (what it reads is the state of the moment), only if the event goes out.
   */
  publish (topic: TriggerTopic, space: TriggerSpace, fields: TriggerFields | (() => TriggerFields)): Promise<void> {
    const heard = this.#o.audience?.(space.mount + topic) ?? true
    if (heard === false) return Promise.resolve()
    const values = typeof fields === 'function' ? fields() : fields
    if (heard === true) return this.#publish(topic, space, values, Date.now())
    const now = Date.now()
    return heard.then((yes) => yes ? this.#publish(topic, space, values, now) : undefined)
  }

  #publish (topic: TriggerTopic, space: TriggerSpace, fields: TriggerFields, now: number): Promise<void> {
    const packet = {
      cmd: 'publish',
      topic: space.mount + topic,
      payload: this.payload(topic, space, fields, now),
      qos: 1,
      retain: false,
      dup: false
    } as PublishPacket
    return new Promise((resolve) => {
      if (this.#engine.closed) { this.#failed?.inc(); resolve(); return }
      this.#engine.publish(packet, null, (err) => {
        if (err !== undefined && err !== null) {
          this.#failed?.inc()
          this.#o.logger.debug({ err: err.message, event: topic }, 'trigger event not published')
        } else {
          this.#published?.inc({ event: topic })
        }
        resolve()
      })
    })
  }
}
