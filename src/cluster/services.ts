import type { Engine } from '../broker/engine.js'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import type { RedisBackend } from './backend.js'
import { trackClientIds, type ClusterClientIds } from './client-ids.js'
import { watchPodHeartbeats, type PodLiveness } from './pod-liveness.js'
import { resyncSessionsAfterBusGap, resyncSessionsAfterOutage } from './resync.js'
import { ClusterSessionExpiry } from './session-expiry.js'
import { ClusterWills } from './wills.js'

/** What a pod runs on top of aedes in cluster mode, once its broker exists. */
export interface ClusterServices {
  /** Cluster-wide client id claims, under `clientIdConflict: reject`. */
  readonly clientIds: ClusterClientIds | undefined
  /** Dead pods by their heartbeats (the $trigger events of a dead pod's clients use it too). */
  readonly liveness: PodLiveness
  /** Stops the sweeps (a drain: the sessions this pod leaves are swept by the others). */
  stop (): void
}

export interface ClusterServiceDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  /** Whether a pod is a live member of the cluster (its registry entry exists). */
  readonly isLive: (podId: string) => Promise<boolean>
  /** Milliseconds since the pod last renewed its registry entry (Infinity: none). */
  readonly sinceRenewalMs: (podId: string) => Promise<number>
}

/**
 * Session expiry deadlines in Redis, wills published by whichever pod claims them (a dead pod's,
 * 3 missed heartbeats, timed from detection), client id claims, and the resync of persistent
 * sessions connected through a Redis outage or a move of their bus channels.
 */
export async function startClusterServices (broker: Engine, backend: RedisBackend, deps: ClusterServiceDeps): Promise<ClusterServices> {
  const { config, logger } = deps
  const liveness = watchPodHeartbeats(broker, { nodeId: config.nodeId, heartbeatMs: config.cluster.heartbeatMs, health: backend.health, sinceRenewalMs: deps.sinceRenewalMs })
  const wills = new ClusterWills(broker, { redis: backend.commands, logger, sweepMs: config.cluster.heartbeatMs, liveness })
  const sessionExpiry = new ClusterSessionExpiry(broker, {
    redis: backend.commands,
    logger,
    sweepMs: config.cluster.heartbeatMs,
    nodeId: config.nodeId,
    liveness,
    onSessionEnd: async (clientId) => await wills.publishStored(clientId)
  })
  // A previous run of a pod with this id left wills and sessions of connections now gone.
  await Promise.all([wills.recoverPreviousRun(), sessionExpiry.recoverPreviousRun()])
    .catch((err: Error) => logger.warn({ err: err.message }, 'could not recover the previous run\'s wills and sessions'))
  const clientIds = config.clientIdConflict === 'reject'
    ? trackClientIds(broker, { redis: backend.commands, nodeId: config.nodeId, logger, isLive: deps.isLive })
    : undefined
  // Persistent sessions connected through an outage reconnect afterwards to replay their queues.
  resyncSessionsAfterOutage(broker, backend.health, logger)
  // ... and after a resharding moved bus channels they listen on (Redis Cluster).
  const stopBusGap = resyncSessionsAfterBusGap(broker, backend.mq, { channels: config.cluster.messageChannels, levels: config.cluster.messageRouteLevels }, logger)
  return {
    clientIds,
    liveness,
    stop: () => { stopBusGap(); sessionExpiry.stop() }
  }
}
