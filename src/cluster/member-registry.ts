import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import { withTimeout } from '../util/timeout.js'
import { advertisedHost, listMembers, msSinceRenewal, removeMember, starlingVersion, writeMember, type MemberInfo } from './members.js'
import { createRedisClient, type RedisClient, type RedisSettings } from './redis.js'

/**
 * Cluster membership: every pod keeps an entry in Redis (id, addresses, version, connections,
 * start time, last heartbeat), renewed every `cluster.heartbeatMs` and expiring
 * `cluster.memberTtlMs` after the last renewal, so a killed pod drops out by itself and a
 * drained one leaves at once. In embedded mode the registry knows only this pod.
 */
export interface ClusterRegistry {
  /** Live pods, sorted by id. Rejects when Redis cannot be read. */
  members (): Promise<MemberInfo[]>
  /** Milliseconds since the pod last renewed its entry (Infinity: no entry). Rejects when Redis cannot be read. */
  sinceRenewalMs (podId: string): Promise<number>
  /** Leaves the registry (drain) and stops the heartbeat; idempotent. */
  stop (): Promise<void>
}

export interface RegistryDeps {
  readonly config: StarlingConfig
  readonly logger: Logger
  /** This pod as it is now (the connection count changes); called on every heartbeat. */
  readonly self: () => MemberInfo
}

/** The embedded pod's registry: itself, nothing in Redis. */
export function localRegistry (self: () => MemberInfo): ClusterRegistry {
  return {
    members: async () => [{ ...self(), lastHeartbeatAt: Date.now() }],
    sinceRenewalMs: async (podId) => podId === self().id ? 0 : Infinity,
    stop: async () => {}
  }
}

/** This pod's entry: its listeners' and HTTP addresses as others can reach them. */
export function describeSelf (parts: {
  config: StarlingConfig
  listeners: ReadonlyArray<{ readonly name: string, readonly address: { readonly host: string, readonly port: number } }>
  http: { readonly host: string, readonly port: number }
  connections: number
  startedAt: number
}): MemberInfo {
  const { config } = parts
  const addresses: Record<string, string> = {}
  for (const listener of [...parts.listeners, { name: 'http', address: parts.http }]) {
    addresses[listener.name] = `${advertisedHost(listener.address.host, config.cluster.advertiseHost)}:${listener.address.port}`
  }
  return {
    id: config.nodeId,
    version: starlingVersion(),
    addresses,
    connections: parts.connections,
    startedAt: parts.startedAt,
    lastHeartbeatAt: Date.now(),
    busLayout: busLayoutOf(config)
  }
}

/** The bus layout every pod must share (MemberInfo.busLayout). */
export function busLayoutOf (config: StarlingConfig): string {
  return `${config.cluster.messageChannels}/${config.cluster.messageRouteLevels}`
}

/**
 * Pods of two bus layouts do not see each other's messages on filters literal in their route
 * levels, and nothing else would say so: a pod joining a cluster whose live members publish
 * another layout logs it as an error (docs/scaling.md, "Changing the layout is not a rolling
 * change"). Entries without a layout (older releases) cannot be checked.
 */
async function checkBusLayout (redis: RedisClient, config: StarlingConfig, logger: Logger): Promise<void> {
  const mine = busLayoutOf(config)
  const others = (await answerWithin(listMembers(redis), 3000)).filter((m) => m.id !== config.nodeId && m.busLayout !== undefined && m.busLayout !== mine)
  if (others.length === 0) return
  logger.error({ busLayout: mine, members: others.slice(0, 10).map((m) => `${m.id}=${m.busLayout ?? ''}`) },
    'bus layout (cluster.messageChannels/messageRouteLevels) differs from other pods: messages on topics literal in the route levels do not cross between them; change the layout with every pod stopped (docs/scaling.md)')
}

/** TTL actually used: at least twice the heartbeat, so one late heartbeat does not drop a pod. */
export function effectiveTtlMs (config: StarlingConfig['cluster']): number {
  return Math.max(config.memberTtlMs, 2 * config.heartbeatMs)
}

/**
 * Registers this pod in Redis (its own connection, no key prefix: names come from keys.ts) and
 * renews the entry on a timer. A failed heartbeat is logged once per outage and retried on the
 * next tick; it never stops the pod.
 */
export async function startRedisRegistry (settings: RedisSettings, deps: RegistryDeps): Promise<ClusterRegistry> {
  const { config, logger, self } = deps
  const ttlMs = effectiveTtlMs(config.cluster)
  const redis: RedisClient = createRedisClient(settings, { role: 'registry', nodeId: config.nodeId, logger })
  // Connection errors are the health monitor's to report (the other connections see them too).
  redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'redis registry connection error'))

  let stopped = false
  let failing = false
  let timer: NodeJS.Timeout | undefined
  let inFlight: Promise<void> = Promise.resolve()

  const beat = async (): Promise<void> => {
    try {
      await writeMember(redis, { ...self(), lastHeartbeatAt: Date.now() }, ttlMs)
      if (failing) logger.info('cluster registry heartbeat restored')
      failing = false
    } catch (err) {
      if (!failing && !stopped) logger.warn({ err: (err as Error).message }, 'cluster registry heartbeat failed')
      failing = true
    }
  }
  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(() => {
      inFlight = beat().finally(schedule)
    }, config.cluster.heartbeatMs)
    timer.unref()
  }

  inFlight = beat()
  await inFlight
  await checkBusLayout(redis, config, logger).catch(() => {})
  schedule()
  logger.info({ heartbeatMs: config.cluster.heartbeatMs, ttlMs }, 'registered in cluster')

  let stopping: Promise<void> | undefined
  return {
    // Bounded: while Redis is away a command would wait in ioredis' offline queue for ~30 s.
    members: () => answerWithin(listMembers(redis), 3000),
    sinceRenewalMs: (podId) => answerWithin(msSinceRenewal(redis, podId, ttlMs), 3000),
    stop () {
      stopping ??= (async () => {
        stopped = true
        clearTimeout(timer)
        await answerWithin(inFlight, 1000).catch(() => {})
        try {
          await answerWithin(removeMember(redis, config.nodeId), 1000)
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'could not leave the cluster registry; the entry expires by itself')
        }
        redis.disconnect()
      })()
      return stopping
    }
  }
}

/** `promise`, or STARLING_ERR_REDIS_UNAVAILABLE when the registry's Redis does not answer within `ms`. */
function answerWithin<T> (promise: Promise<T>, ms: number): Promise<T> {
  return withTimeout(promise, ms, () => { throw new StarlingError('STARLING_ERR_REDIS_UNAVAILABLE', ['cluster registry', ms]) })
}
