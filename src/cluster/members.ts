import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { clusterMemberKey, clusterMembersKey } from './keys.js'
import type { RedisClient } from './redis.js'

/**
 * What a pod publishes about itself in the membership registry, and how that is read back.
 * Pure data and Redis reads: the heartbeat loop lives in member-registry.ts, the CLI reads with
 * `listMembers` too.
 */
export interface MemberInfo {
  readonly id: string
  readonly version: string
  /** Listener name (`mqtt`, `mqtts`, `ws`, `wss`, `http`) → `host:port`. */
  readonly addresses: Readonly<Record<string, string>>
  readonly connections: number
  /** ms since epoch, by the pod's clock. */
  readonly startedAt: number
  readonly lastHeartbeatAt: number
  /**
   * `<cluster.messageChannels>/<cluster.messageRouteLevels>`: pods must agree on it to see each
   * other's messages (docs/scaling.md); absent in entries of releases before it was written.
   */
  readonly busLayout?: string
}

let cachedVersion: string | undefined

/** Starling's version from package.json (the same path from src/ and dist/). */
export function starlingVersion (): string {
  if (cachedVersion !== undefined) return cachedVersion
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    cachedVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    cachedVersion = 'unknown'
  }
  return cachedVersion
}

/** The host shown for a listener bound to `bound`: `advertise` if set, else the bound host, else the host name. */
export function advertisedHost (bound: string, advertise: string): string {
  if (advertise !== '') return advertise
  if (bound === '0.0.0.0' || bound === '::' || bound === '') return hostname()
  return bound
}

function toHash (info: MemberInfo): Record<string, string> {
  return {
    id: info.id,
    version: info.version,
    addresses: JSON.stringify(info.addresses),
    connections: String(info.connections),
    startedAt: String(info.startedAt),
    lastHeartbeatAt: String(info.lastHeartbeatAt),
    ...(info.busLayout !== undefined ? { busLayout: info.busLayout } : {})
  }
}

function fromHash (hash: Record<string, string>): MemberInfo | undefined {
  if (hash.id === undefined || hash.id === '') return undefined
  let addresses: Record<string, string> = {}
  try {
    const parsed = JSON.parse(hash.addresses ?? '{}') as unknown
    if (typeof parsed === 'object' && parsed !== null) addresses = parsed as Record<string, string>
  } catch { /* an unreadable field shows as no addresses */ }
  return {
    id: hash.id,
    version: hash.version ?? 'unknown',
    addresses,
    connections: Number(hash.connections ?? 0),
    startedAt: Number(hash.startedAt ?? 0),
    lastHeartbeatAt: Number(hash.lastHeartbeatAt ?? 0),
    ...(hash.busLayout !== undefined ? { busLayout: hash.busLayout } : {})
  }
}

/**
 * Writes (or renews) a pod's entry: its hash with a TTL, and its id in the members set scored by
 * expiry. Both keys share a hash tag, so the MULTI is valid on Redis Cluster too.
 */
export async function writeMember (redis: RedisClient, info: MemberInfo, ttlMs: number): Promise<void> {
  const key = clusterMemberKey(info.id)
  const result = await redis.multi()
    .hset(key, toHash(info))
    .pexpire(key, ttlMs)
    .zadd(clusterMembersKey(), info.lastHeartbeatAt + ttlMs, info.id)
    .exec()
  const failed = result?.find(([err]) => err !== null)
  if (failed !== undefined) throw failed[0] as Error
}

/**
 * Milliseconds since `nodeId` last renewed its entry, by Redis' clock (each renewal sets its TTL
 * back to `ttlMs`, so no two pods' clocks are compared); Infinity when it has no entry.
 */
export async function msSinceRenewal (redis: RedisClient, nodeId: string, ttlMs: number): Promise<number> {
  const left = await redis.pttl(clusterMemberKey(nodeId))
  return left < 0 ? Infinity : Math.max(0, ttlMs - left)
}

/** Removes a pod's entry at once (graceful drain). */
export async function removeMember (redis: RedisClient, nodeId: string): Promise<void> {
  await redis.multi().del(clusterMemberKey(nodeId)).zrem(clusterMembersKey(), nodeId).exec()
}

/**
 * Live pods, sorted by id. A pod is live while its hash exists (its TTL is the authority, so
 * pods' clocks need not agree); ids whose hash expired are dropped from the set on the way.
 */
export async function listMembers (redis: RedisClient): Promise<MemberInfo[]> {
  const ids = await redis.zrange(clusterMembersKey(), 0, -1)
  if (ids.length === 0) return []
  const pipeline = redis.pipeline()
  for (const id of ids) pipeline.hgetall(clusterMemberKey(id))
  const replies = (await pipeline.exec()) ?? []
  const live: MemberInfo[] = []
  const gone: string[] = []
  ids.forEach((id, i) => {
    const [err, hash] = replies[i] ?? [null, {}]
    if (err !== null) throw err
    const info = fromHash(hash as Record<string, string>)
    if (info === undefined) gone.push(id)
    else live.push(info)
  })
  if (gone.length > 0) await redis.zrem(clusterMembersKey(), ...gone)
  return live.sort((a, b) => a.id.localeCompare(b.id))
}
