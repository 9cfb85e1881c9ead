import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import { withTimeout } from '../util/timeout.js'

/**
 * The one place Starling opens Redis connections (ioredis 5, the major
 * aedes-persistence-redis uses too). Topology comes from the config:
 *   - `redis.cluster.nodes` set → Redis Cluster;
 *   - `redis.sentinels` set → Sentinel, master `redis.name`;
 *   - otherwise `redis.url` → one standalone server.
 * The URL always carries the credentials, TLS (`rediss://`) and database, whatever the topology;
 * `redis.password`, when set, replaces the URL's password (so the URL itself holds no secret).
 */

export type RedisClient = Redis | Cluster
export type RedisMode = 'standalone' | 'sentinel' | 'cluster'

export interface HostPort { readonly host: string, readonly port: number }

export interface RedisSettings {
  readonly mode: RedisMode
  /** Where it connects, without credentials: safe for logs. */
  readonly describe: string
  readonly server: HostPort
  readonly sentinels: readonly HostPort[]
  readonly sentinelName: string
  readonly clusterNodes: readonly HostPort[]
  readonly username: string | undefined
  readonly password: string | undefined
  readonly db: number
  readonly tls: boolean
  /** Called with every client opened with these settings (the pod's Redis metrics); none in the CLI. */
  readonly observe?: RedisClientObserver
}

/** What opened a connection, for whoever observes it. */
export interface RedisConnectionInfo { readonly role: string, readonly cluster: boolean }
export type RedisClientObserver = (client: RedisClient, connection: RedisConnectionInfo) => void

const DEFAULT_PORT = 6379

export function parseHostPort (text: string, defaultPort = DEFAULT_PORT): HostPort {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(text.trim())
  if (match === null || match[1] === undefined) {
    throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [`redis: "${text}" is not host:port`])
  }
  return { host: match[1], port: match[2] !== undefined ? Number(match[2]) : defaultPort }
}

/** Cluster mode settings from the config, or undefined for the embedded in-memory mode. */
export function redisSettings (config: StarlingConfig['redis']): RedisSettings | undefined {
  const clusterNodes = config.cluster.nodes.map((n) => parseHostPort(n))
  const sentinels = config.sentinels.map((s) => parseHostPort(s, 26379))
  if (config.url === '' && clusterNodes.length === 0 && sentinels.length === 0) return undefined

  let url: URL | undefined
  if (config.url !== '') {
    try {
      url = new URL(config.url)
    } catch (err) {
      throw new StarlingError('STARLING_ERR_CONFIG_INVALID', ['redis.url: not a valid URL'], { cause: err })
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [`redis.url: scheme must be redis:// or rediss://, not ${url.protocol}//`])
    }
  }
  const server: HostPort = url !== undefined && url.hostname !== ''
    ? { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port !== '' ? Number(url.port) : DEFAULT_PORT }
    : { host: '127.0.0.1', port: DEFAULT_PORT }
  const dbText = url?.pathname.replace(/^\//, '') ?? ''
  const db = dbText === '' ? 0 : Number(dbText)
  if (!Number.isInteger(db) || db < 0) throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [`redis.url: database "${dbText}" is not a number`])
  const mode: RedisMode = clusterNodes.length > 0 ? 'cluster' : sentinels.length > 0 ? 'sentinel' : 'standalone'
  const tls = url?.protocol === 'rediss:'
  const where = mode === 'cluster'
    ? clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')
    : mode === 'sentinel'
      ? `${config.name}@${sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`
      : `${server.host}:${server.port}/${db}`
  return {
    mode,
    describe: `${tls ? 'rediss' : 'redis'} ${mode} ${where}`,
    server,
    sentinels,
    sentinelName: config.name,
    clusterNodes,
    username: url !== undefined && url.username !== '' ? decodeURIComponent(url.username) : undefined,
    password: config.password !== '' ? config.password : url !== undefined && url.password !== '' ? decodeURIComponent(url.password) : undefined,
    db,
    tls
  }
}

/**
 * Reconnect delay after `times` failed attempts: 50 ms doubling up to 2 s, with ±20% jitter so
 * many pods do not reconnect in lockstep. Never gives up: a pod waits for Redis (not ready
 * meanwhile) rather than exiting.
 */
export function retryDelayMs (times: number, random: () => number = Math.random): number {
  const base = Math.min(2000, 50 * 2 ** Math.min(Math.max(times - 1, 0), 6))
  return Math.round(base * (0.8 + 0.4 * random()))
}

export interface ClientOptions {
  /** What the connection is for (`persistence`, `publish`, `subscribe`): in logs and CLIENT LIST. */
  readonly role: string
  readonly nodeId: string
  readonly logger: Logger
  /** ioredis key prefix for every command of this client (never applied to pub/sub channels). */
  readonly keyPrefix?: string
  readonly autoPipelining?: boolean
  /**
   * The client subscribes (pubsub.ts): on Redis Cluster it gets one sharded subscriber per master
   * (SSUBSCRIBE); after a slot migration or a failover ioredis subscribes the channels again on
   * their new owner when it next reads the slot map (the bus reads it every second, emitter.ts).
   */
  readonly pubsub?: boolean
}

/**
 * Commands whose first argument is not their key. ioredis' Cluster auto-pipelining picks a
 * command's node from its first argument, so these would join the pipeline of some other node
 * and the whole pipeline fail ("All keys in the pipeline should belong to the same slots
 * allocation group", or a raw MOVED when the pipeline went to a node that does not hold the key
 * and another command in it succeeded): they are sent outside the auto-pipeline (routed by their
 * real keys). XGROUP CREATE made a shared subscription's SUBACK fail with 0x80 that way.
 * `starlingOutgoingOps` is outgoing-store.ts' script, whose first argument is its key count.
 */
const CLUSTER_UNPIPELINED = ['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro', 'xread', 'xreadgroup', 'xgroup', 'xinfo', 'starlingOutgoingOps']


function commonOptions (settings: RedisSettings, options: ClientOptions): RedisOptions {
  return {
    ...(settings.username !== undefined ? { username: settings.username } : {}),
    ...(settings.password !== undefined ? { password: settings.password } : {}),
    ...(settings.tls ? { tls: {} } : {}),
    db: settings.db,
    connectionName: `starling:${options.nodeId}:${options.role}`,
    connectTimeout: 5000,
    retryStrategy: (times: number) => retryDelayMs(times),
    // Commands issued while Redis is away wait in the offline queue for up to this many
    // reconnect attempts (~30 s with the delays above), then fail to their caller.
    maxRetriesPerRequest: 20,
    enableAutoPipelining: options.autoPipelining ?? false,
    ...(options.keyPrefix !== undefined ? { keyPrefix: options.keyPrefix } : {})
  }
}

/**
 * One ioredis client for the configured topology. Errors are logged by the health monitor;
 * `settings.observe` (a pod's metrics, src/metrics/redis-client.ts) sees every client opened.
 */
export function createRedisClient (settings: RedisSettings, options: ClientOptions): RedisClient {
  const client = newRedisClient(settings, options)
  settings.observe?.(client, { role: options.role, cluster: settings.mode === 'cluster' })
  return client
}

function newRedisClient (settings: RedisSettings, options: ClientOptions): RedisClient {
  const common = commonOptions(settings, options)
  switch (settings.mode) {
    case 'cluster': {
      // Key prefix and pipelining belong to the cluster client, the rest to each node connection.
      const { keyPrefix, enableAutoPipelining, ...redisOptions } = common
      const clusterOptions: ClusterOptions = {
        redisOptions,
        ...(options.pubsub === true ? { shardedSubscribers: true } : {}),
        clusterRetryStrategy: (times: number) => retryDelayMs(times),
        ...(keyPrefix !== undefined ? { keyPrefix } : {}),
        ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
        autoPipeliningIgnoredCommands: CLUSTER_UNPIPELINED
      }
      return new Cluster(settings.clusterNodes.map((n) => ({ ...n })), clusterOptions)
    }
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: settings.sentinels.map((s) => ({ ...s })),
        name: settings.sentinelName,
        sentinelRetryStrategy: (times: number) => retryDelayMs(times),
        ...(settings.tls ? { enableTLSForSentinelMode: true } : {})
      })
    default:
      return new Redis({ ...common, host: settings.server.host, port: settings.server.port })
  }
}

/** How long closing a connection waits for QUIT (the commands queued before it) before it drops the connection. */
const QUIT_WAIT_MS = 2000

/**
 * Closes a connection after the commands already queued (QUIT), bounded: while Redis is away QUIT
 * never answers, and a client left reconnecting keeps its retry timers (and the process) alive.
 */
export async function closeRedisClient (conn: RedisClient): Promise<void> {
  if (conn.status === 'end') return
  await withTimeout(conn.quit().then(() => {}, () => {}), QUIT_WAIT_MS, () => {})
  if ((conn.status as string) !== 'end') conn.disconnect()
}
