import type { Engine } from '../broker/engine.js'
import type { PodLiveness } from '../cluster/pod-liveness.js'
import type { RedisClient } from '../cluster/redis.js'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { Registry } from 'prom-client'
import { engineAudience } from './audience.js'
import { DeadPodEvents } from './dead-pods.js'
import { publishLifecycleEvents } from './lifecycle.js'
import { TriggerPublisher } from './publisher.js'

export { TRIGGER_TOPICS, isTriggerTopic, type DisconnectReason } from './names.js'
export { withTokenEvents, spaceOfBroker } from './tokens.js'
export { TriggerPublisher } from './publisher.js'

export interface TriggerDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  readonly registry?: Registry
  /** Cluster mode: the persistence connection and the dead-pod detection (src/cluster/services.ts). */
  readonly cluster?: { readonly redis: RedisClient, readonly liveness: PodLiveness } | undefined
  /** Shared subscription groups: whether a group (on any pod) takes a topic. */
  readonly sharedGroupFor?: (topic: string) => boolean
}

export interface Triggers {
  readonly publisher: TriggerPublisher
  /** Cluster mode: the ledger that reports a dead pod's clients (tests sweep it). */
  readonly deadPods: DeadPodEvents | undefined
  stop (): void
}

/**
 * `$trigger` events of one pod (issue 14 §2): attach before the listeners take clients. Cluster
 * mode adds the ledger of connected clients and the sweep reporting dead pods' clients.
 */
export async function startTriggers (engine: Engine, deps: TriggerDeps): Promise<Triggers> {
  const { config, logger } = deps
  const audience = engineAudience(engine, deps.sharedGroupFor)
  const publisher = new TriggerPublisher(engine, { podId: config.nodeId, maxPayloadBytes: config.triggers.maxPayloadBytes, logger, audience, ...(deps.registry !== undefined ? { registry: deps.registry } : {}) })
  let deadPods: DeadPodEvents | undefined
  if (deps.cluster !== undefined) {
    deadPods = new DeadPodEvents(publisher, { redis: deps.cluster.redis, podId: config.nodeId, logger, liveness: deps.cluster.liveness, sweepMs: config.cluster.heartbeatMs, closed: () => engine.closed })
    await deadPods.start()
  }
  publishLifecycleEvents(engine, publisher, deadPods)
  return { publisher, deadPods, stop: () => deadPods?.stop() }
}
