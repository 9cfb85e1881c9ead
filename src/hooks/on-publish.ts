import type { Registry } from 'prom-client'
import { compileFilter } from '../broker/topics.js'
import type { Client, PublishPacket, PublishRefusal } from '../broker/engine.js'
import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import { HookMetrics } from '../metrics/hooks.js'
import { clientIdOf, tenantOf } from '../tenancy/context.js'
import type { BrokerRecord, OnPublishSettings } from '../tenancy/types.js'
import { HookDispatcher, type HookOutcome, type HookTuning, type Signer } from './dispatcher.js'
import { jtiOf } from './jti.js'
import { toHookMessage, UNCHANGED, type HookResult } from './wire.js'

/**
 * On-publish hooks per broker (README "On-publish hooks"): the last step of the broker's
 * authorizePublish, after the ACL and the quotas, so a message reaches its hook before it is
 * published and before its publisher's PUBACK/PUBREC. The answer decides:
 *   - a message in the 200 answer is published as answered (topic, payload, format, content type);
 *   - one left out is acknowledged as accepted (0x00) and not published (our aedes patch);
 *   - 403: not published, MQTT 5 PUBACK/PUBREC 0x87 Not authorized;
 *   - a failure (other status, time-out, network, malformed answer, open breaker, too many
 *     waiting): `failurePolicy` drop → not published, PUBACK/PUBREC 0x83 Implementation
 *     specific error; `deliver` → published unchanged.
 * QoS 0 has no acknowledgement: dropped silently; 3.1.1 publishers are acknowledged normally
 * and the message dropped [MQTT-3.3.5-2].
 *
 * Order per publisher: aedes authorizes the PUBLISH packets of one read concurrently, so each
 * client's messages wait in a FIFO and are released (published or refused) in arrival order,
 * whatever order their batches are answered in; a message that needs no hook waits behind an
 * earlier one of the same client that does.
 */
export interface OnPublishHooks {
  authorizePublish (client: Client, packet: PublishPacket, callback: (error?: PublishRefusal | null) => void): void
  /**
   * False while no broker has a hook and no message waits in any client's queue: authorizePublish
   * would only call back at once, so the caller may skip it (no lookup, no closure per PUBLISH).
   */
  needed (): boolean
  /** Fails what waits for an answer (closing pod). */
  close (): void
}

export interface OnPublishDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly registry: Registry
  /** The tenancy store's findBroker (synchronous, cached): the client's broker record and its settings. */
  readonly findBroker: (namespace: string, name: string) => BrokerRecord | undefined
  /** The tenancy store's hasOnPublishHooks: false when no broker has a hook. Absent: always look. */
  readonly anyHook?: () => boolean
  readonly sign: Signer
}

interface Ticket {
  settled: boolean
  finish: () => void
}

export function tuningOf (hook: OnPublishSettings, config: StarlingConfig): HookTuning {
  const d = config.hooks
  return {
    timeoutMs: hook.timeoutMs ?? d.timeoutMs,
    batchSize: hook.batchSize ?? d.batchSize,
    lingerMs: hook.lingerMs ?? d.lingerMs,
    concurrency: hook.concurrency ?? d.concurrency,
    maxPending: d.maxPending,
    breakerFailures: d.breakerFailures,
    breakerOpenMs: d.breakerOpenMs
  }
}

export function createOnPublishHooks (deps: OnPublishDeps): OnPublishHooks {
  const { config, logger } = deps
  const metrics = new HookMetrics(deps.registry, { maxBrokers: config.hooks.maxBrokerSeries })
  const dispatchers = new Map<string, HookDispatcher>()
  const filters = new WeakMap<readonly string[], (topic: string) => boolean>()
  const queues = new Map<Client, Ticket[]>()
  let nextMid = 1

  function matches (filter: readonly string[] | undefined, topic: string): boolean {
    if (filter === undefined) return true
    let test = filters.get(filter)
    if (test === undefined) {
      const compiled = filter.map(compileFilter)
      test = (t) => compiled.some((match) => match(t))
      filters.set(filter, test)
    }
    return test(topic)
  }

  function dispatcherFor (broker: BrokerRecord, hook: OnPublishSettings): HookDispatcher {
    const tuning = tuningOf(hook, config)
    let dispatcher = dispatchers.get(broker.id)
    if (dispatcher === undefined) {
      dispatcher = new HookDispatcher(broker, tuning, deps.sign, metrics)
      dispatchers.set(broker.id, dispatcher)
    } else {
      dispatcher.update(broker, tuning)
    }
    return dispatcher
  }

  function release (client: Client, queue: Ticket[]): void {
    while (queue.length > 0 && (queue[0] as Ticket).settled) (queue.shift() as Ticket).finish()
    if (queue.length === 0 && queues.get(client) === queue) queues.delete(client)
  }

  function resolve (broker: BrokerRecord, hook: OnPublishSettings, packet: PublishPacket, outcome: HookOutcome, callback: (error?: PublishRefusal | null) => void): void {
    const labels = metrics.labels(broker)
    if (outcome.kind === 'answered') {
      if (outcome.result === undefined) {
        metrics.dropped.inc({ ...labels, reason: 'filtered' })
        callback(new StarlingError('STARLING_ERR_HOOK_FILTERED'))
        return
      }
      if (outcome.result !== UNCHANGED) apply(packet, outcome.result)
      callback(null)
      return
    }
    if (outcome.kind === 'refused') {
      metrics.dropped.inc({ ...labels, reason: 'refused' })
      callback(new StarlingError('STARLING_ERR_HOOK_REFUSED'))
      return
    }
    if (hook.failurePolicy === 'deliver') {
      metrics.passedOnFailure.inc(labels)
      callback(null)
      return
    }
    metrics.dropped.inc({ ...labels, reason: 'failure' })
    logger.debug({ namespace: broker.namespace, broker: broker.name, error: outcome.error }, 'on-publish hook failed: message dropped')
    callback(new StarlingError('STARLING_ERR_HOOK_FAILED', [outcome.error]))
  }

  function authorizePublish (client: Client, packet: PublishPacket, callback: (error?: PublishRefusal | null) => void): void {
    const tenant = tenantOf(client)
    const broker = deps.findBroker(tenant.namespace, tenant.broker)
    const hook = broker?.onPublish
    let queue = queues.get(client)
    if (broker === undefined || hook === undefined || !matches(hook.filter, packet.topic)) {
      if (queue === undefined) callback(null)
      else queue.push({ settled: true, finish: () => callback(null) }) // behind its client's earlier messages
      return
    }
    if (queue === undefined) {
      queue = []
      queues.set(client, queue)
    }
    const ticket: Ticket = { settled: false, finish: () => {} }
    queue.push(ticket)
    const owner = queue
    const properties = packet.properties as { payloadFormatIndicator?: boolean | number, contentType?: string } | undefined
    const message = toHookMessage({
      mid: nextMid++,
      broker: tenant.broker,
      namespace: tenant.namespace,
      topic: packet.topic,
      clientId: clientIdOf(client),
      jti: jtiOf(client),
      receivedAt: Math.floor(Date.now() / 1000),
      contentType: properties?.contentType,
      payloadFormatIndicator: properties?.payloadFormatIndicator,
      payload: packet.payload
    })
    dispatcherFor(broker, hook).submit(message, (outcome) => {
      ticket.finish = () => resolve(broker, hook, packet, outcome, callback)
      ticket.settled = true
      release(client, owner)
    })
  }

  function needed (): boolean {
    return queues.size > 0 || deps.anyHook === undefined || deps.anyHook()
  }

  return {
    authorizePublish,
    needed,
    close () {
      for (const dispatcher of dispatchers.values()) dispatcher.close()
    }
  }
}

/** The answered form of a message, onto the packet aedes publishes (the topic as the client sees it: aedes mounts it next). */
function apply (packet: PublishPacket, result: HookResult): void {
  packet.topic = result.topic
  packet.payload = result.payload
  const properties = packet.properties as { payloadFormatIndicator?: boolean, contentType?: string } | undefined
  const text = result.payloadFormatIndicator === 1
  const wasText = properties?.payloadFormatIndicator === true || (properties?.payloadFormatIndicator as unknown) === 1
  if (text !== wasText || result.contentType !== (properties?.contentType ?? '')) {
    const next: Record<string, unknown> = { ...(properties ?? {}) }
    if (text) next.payloadFormatIndicator = true
    else delete next.payloadFormatIndicator
    if (result.contentType !== '') next.contentType = result.contentType
    else delete next.contentType
    ;(packet as { properties?: object }).properties = next
  }
}
