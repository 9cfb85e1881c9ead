import { listMembers, type MemberInfo } from '../cluster/members.js'
import { createRedisClient, redisSettings, type RedisClient, type RedisSettings } from '../cluster/redis.js'
import { loadConfig } from '../config/load.js'
import { StarlingError } from '../errors.js'
import { createLogger } from '../logger.js'
import { parseCommandArgs } from './args.js'
import { formatTopology, readTopology } from './redis-topology.js'

export const CLUSTER_USAGE = 'usage: starling cluster status [--redis-url URL] [--config FILE] [--timeout-ms N] [--sample-ms N] [--json]'

const DEFAULT_TIMEOUT_MS = 5000
/** How long the Redis pub/sub load (per second, CPU) is sampled; 0: topology only. */
const DEFAULT_SAMPLE_MS = 1000

function ago (ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** The table `starling cluster status` prints: one row per live pod. */
export function formatMembers (pods: readonly MemberInfo[], now: number): string {
  const header = ['ID', 'MQTT', 'HTTP', 'OTHER', 'VERSION', 'CONNECTIONS', 'UPTIME', 'LAST SEEN']
  const rows = pods.map((pod) => {
    const { mqtt, http, ...rest } = pod.addresses
    const other = Object.entries(rest).map(([name, address]) => `${name}=${address}`).join(' ')
    return [pod.id, mqtt ?? '-', http ?? '-', other === '' ? '-' : other, pod.version, String(pod.connections),
      ago(now - pod.startedAt), `${ago(now - pod.lastHeartbeatAt)} ago`]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(header), ...rows.map(line), `${pods.length} pod${pods.length === 1 ? '' : 's'} live`].join('\n') + '\n'
}

function waitReady (redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => { redis.off('ready', onReady); resolve(false) }, timeoutMs)
    const onReady = (): void => { clearTimeout(timer); resolve(true) }
    redis.once('ready', onReady)
  })
}

/** A `--redis-url` naming a node of a Redis Cluster: reconnect as a Cluster client seeded by it. */
async function asClusterIfEnabled (redis: RedisClient, settings: RedisSettings, config: { nodeId: string }, timeoutMs: number): Promise<RedisClient> {
  if (settings.mode !== 'standalone') return redis
  const info = await redis.info('cluster').catch(() => '')
  if (!/^cluster_enabled:1/m.test(info)) return redis
  redis.disconnect()
  const cluster = createRedisClient({ ...settings, mode: 'cluster', clusterNodes: [settings.server] }, { role: 'cli', nodeId: config.nodeId, logger: createLogger('silent', config.nodeId) })
  cluster.on('error', () => { /* reported below as unavailable */ })
  if (!await waitReady(cluster, timeoutMs)) {
    cluster.disconnect()
    throw new StarlingError('STARLING_ERR_REDIS_UNAVAILABLE', [settings.describe, timeoutMs])
  }
  return cluster
}

/**
 * `starling cluster status`: reads the membership registry and prints live pods, then Redis:
 * its topology (Redis Cluster: nodes, roles, slots) and per shard the bus channels it carries
 * and its pub/sub load (redis-topology.ts). Redis comes from `--redis-url` (a Redis Cluster node
 * is detected) or the usual config (file, STARLING_REDIS_*); an unreachable Redis fails with
 * STARLING_ERR_REDIS_UNAVAILABLE after `--timeout-ms`.
 */
export async function clusterCommand (argv: readonly string[], out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const parsed = parseCommandArgs(argv, {
    'redis-url': { type: 'string' },
    config: { type: 'string', short: 'c' },
    'timeout-ms': { type: 'string' },
    'sample-ms': { type: 'string' },
    json: { type: 'boolean' }
  }, CLUSTER_USAGE, true)
  const [sub, ...extra] = parsed.positionals
  if (sub !== 'status' || extra.length > 0) throw new StarlingError('STARLING_ERR_CLI_USAGE', [CLUSTER_USAGE])
  const timeoutText = parsed.values['timeout-ms'] ?? String(DEFAULT_TIMEOUT_MS)
  const timeoutMs = Number(timeoutText)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new StarlingError('STARLING_ERR_CLI_USAGE', [`--timeout-ms: "${timeoutText}" is not a positive integer\n${CLUSTER_USAGE}`])

  const sampleText = parsed.values['sample-ms'] ?? String(DEFAULT_SAMPLE_MS)
  const sampleMs = Number(sampleText)
  if (!Number.isInteger(sampleMs) || sampleMs < 0) throw new StarlingError('STARLING_ERR_CLI_USAGE', [`--sample-ms: "${sampleText}" is not an integer ≥ 0\n${CLUSTER_USAGE}`])

  const url = parsed.values['redis-url']
  const file = parsed.values.config
  const config = loadConfig({ ...(file !== undefined ? { file } : {}), env: process.env, flags: url !== undefined ? { 'redis.url': url } : {} })
  const settings = redisSettings(config.redis)
  if (settings === undefined) throw new StarlingError('STARLING_ERR_CLI_USAGE', [`no Redis configured (--redis-url or STARLING_REDIS_URL)\n${CLUSTER_USAGE}`])

  let redis = createRedisClient(settings, { role: 'cli', nodeId: config.nodeId, logger: createLogger('silent', config.nodeId) })
  redis.on('error', () => { /* reported below as unavailable */ })
  try {
    if (!await waitReady(redis, timeoutMs)) throw new StarlingError('STARLING_ERR_REDIS_UNAVAILABLE', [settings.describe, timeoutMs])
    redis = await asClusterIfEnabled(redis, settings, config, timeoutMs)
    const pods = await listMembers(redis)
    const topology = await readTopology(redis, { channels: config.cluster.messageChannels, sampleMs })
    out.write(parsed.values.json === true
      ? JSON.stringify({ pods, redis: topology }) + '\n'
      : formatMembers(pods, Date.now()) + '\n' + formatTopology(topology))
  } finally {
    redis.disconnect()
  }
}
