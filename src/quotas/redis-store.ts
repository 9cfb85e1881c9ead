import { quotaBucketKey, quotaConnectionsKey, quotaLeasesKey, quotaRetainedKey, usageHourKey, usageMinuteKey } from '../cluster/keys.js'
import type { RedisClient } from '../cluster/redis.js'
import { BUCKET_IDLE_MS, BURST_SECONDS } from './budget.js'
import type { QuotaStore, SyncReply, SyncRequest } from './store.js'
import { emptyCounts, hourOf, HOUR_MS, minuteOf, MINUTE_MS, MINUTE_RETENTION_MS, USAGE_RETENTION_MS, type UsageCounts, type UsagePlan } from './usage-buckets.js'

/**
 * The quota store in Redis. Every key of a broker carries the hash tag `{q:<broker id>}`
 * (src/cluster/keys.ts), so each script below touches one Redis Cluster slot, and a pod's flush
 * is one script per broker with activity (auto-pipelined: one round trip per flush in all).
 * Times that pods compare (leases, bucket refills) come from Redis' clock (TIME), so pods'
 * clocks need not agree; usage buckets are chosen by the writing pod's clock (a skew of a few
 * ms moves a few messages into the next minute).
 */

/** Drops pods whose lease expired (KEYS[1] conns HASH, KEYS[2] leases ZSET); `now` in ms. */
const PURGE_LUA = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  for _, pod in ipairs(dead) do redis.call('HDEL', KEYS[1], pod) end
  if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
end
local function total(except)
  local sum = 0
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if all[i] ~= except then sum = sum + tonumber(all[i + 1]) end
  end
  return sum
end
local function set_count(pod, n, now, ttl)
  if n > 0 then
    redis.call('HSET', KEYS[1], pod, n)
    redis.call('ZADD', KEYS[2], now + ttl, pod)
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  else
    redis.call('HDEL', KEYS[1], pod)
    redis.call('ZREM', KEYS[2], pod)
  end
end
`

/**
 * KEYS: conns, leases, bucket, usage minute, usage hour.
 * ARGV: pod, connections ('' unchanged), renew ('1'), lease ttl ms,
 *       messages/s, bytes/s, want messages, want bytes, burst seconds, bucket idle ms,
 *       mi, mo, bi, bo, minute ttl ms, hour ttl ms.
 * Returns { granted messages, granted bytes, live connections cluster-wide }.
 */
const SYNC_LUA = PURGE_LUA + `
local now = now_ms()
local pod, ttl = ARGV[1], tonumber(ARGV[4])
if ARGV[2] ~= '' then
  set_count(pod, tonumber(ARGV[2]), now, ttl)
elseif ARGV[3] == '1' and redis.call('HEXISTS', KEYS[1], pod) == 1 then
  redis.call('ZADD', KEYS[2], now + ttl, pod)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
purge(now)
local burst, idle = tonumber(ARGV[9]), tonumber(ARGV[10])
local function lease(field, rate, want)
  if rate <= 0 or want <= 0 then return 0 end
  local capacity = math.max(1, rate * burst)
  local stored = redis.call('HMGET', KEYS[3], field, field .. '@')
  local tokens = capacity
  if stored[1] and stored[2] then
    tokens = math.min(capacity, tonumber(stored[1]) + math.max(0, now - tonumber(stored[2])) * rate / 1000)
  end
  local granted = math.max(0, math.min(math.floor(want), math.floor(tokens)))
  redis.call('HSET', KEYS[3], field, tostring(tokens - granted), field .. '@', now)
  redis.call('PEXPIRE', KEYS[3], idle)
  return granted
end
local gm = lease('m', tonumber(ARGV[5]), tonumber(ARGV[7]))
local gb = lease('b', tonumber(ARGV[6]), tonumber(ARGV[8]))
local fields = { 'mi', 'mo', 'bi', 'bo' }
local counted = false
for i = 1, 4 do
  local n = tonumber(ARGV[10 + i])
  if n ~= 0 then
    redis.call('HINCRBY', KEYS[4], fields[i], n)
    redis.call('HINCRBY', KEYS[5], fields[i], n)
    counted = true
  end
end
if counted then
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[15]))
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[16]))
end
return { gm, gb, total(nil) }
`

/** KEYS: conns, leases. ARGV: pod, this pod's count with the candidate, limit, lease ttl ms. Returns 1 admitted / 0 refused. */
const ADMIT_LUA = PURGE_LUA + `
local now = now_ms()
purge(now)
local count = tonumber(ARGV[2])
if total(ARGV[1]) + count > tonumber(ARGV[3]) then return 0 end
set_count(ARGV[1], count, now, tonumber(ARGV[4]))
return 1
`

/** KEYS: retained SET. ARGV: topic, clearing ('1'), max. Returns 1 when the topic may be retained. */
const RETAINED_LUA = `
if ARGV[2] == '1' then redis.call('SREM', KEYS[1], ARGV[1]) return 1 end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
local max = tonumber(ARGV[3])
if max > 0 and redis.call('SCARD', KEYS[1]) >= max then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
`

interface QuotaCommands {
  starlingQuotaSync (...args: Array<string | number>): Promise<[number, number, number]>
  starlingQuotaAdmit (...args: Array<string | number>): Promise<number>
  starlingQuotaRetained (...args: Array<string | number>): Promise<number>
}

export class RedisQuotaStore implements QuotaStore {
  readonly pod: string
  readonly #redis: RedisClient & QuotaCommands
  readonly #leaseTtlMs: number
  readonly #ownsClient: boolean

  /**
   * `redis`: a connection without a key prefix (names come from keys.ts), ideally with
   * auto-pipelining so a flush's scripts go in one round trip. `ownsClient`: close() disconnects it.
   */
  constructor (redis: RedisClient, options: { pod: string, leaseTtlMs: number, ownsClient?: boolean }) {
    this.pod = options.pod
    this.#leaseTtlMs = options.leaseTtlMs
    this.#ownsClient = options.ownsClient ?? false
    redis.defineCommand('starlingQuotaSync', { numberOfKeys: 5, lua: SYNC_LUA })
    redis.defineCommand('starlingQuotaAdmit', { numberOfKeys: 2, lua: ADMIT_LUA })
    redis.defineCommand('starlingQuotaRetained', { numberOfKeys: 1, lua: RETAINED_LUA })
    this.#redis = redis as RedisClient & QuotaCommands
  }

  async sync (brokerId: string, request: SyncRequest): Promise<SyncReply> {
    const usage = request.usage ?? emptyCounts()
    const rate = request.rate
    const [grantedMessages, grantedBytes, connections] = await this.#redis.starlingQuotaSync(
      quotaConnectionsKey(brokerId), quotaLeasesKey(brokerId), quotaBucketKey(brokerId),
      usageMinuteKey(brokerId, minuteOf(request.at)), usageHourKey(brokerId, hourOf(request.at)),
      this.pod, request.connections ?? '', request.renew === true ? '1' : '0', this.#leaseTtlMs,
      rate?.messagesPerSecond ?? 0, rate?.bytesPerSecond ?? 0, rate?.wantMessages ?? 0, rate?.wantBytes ?? 0,
      BURST_SECONDS, BUCKET_IDLE_MS,
      usage.messagesIn, usage.messagesOut, usage.bytesIn, usage.bytesOut,
      // A bucket lives until the end of its period plus its retention.
      MINUTE_MS + MINUTE_RETENTION_MS, HOUR_MS + USAGE_RETENTION_MS
    )
    return { grantedMessages, grantedBytes, connections }
  }

  async admitConnection (brokerId: string, count: number, limit: number): Promise<boolean> {
    return await this.#redis.starlingQuotaAdmit(quotaConnectionsKey(brokerId), quotaLeasesKey(brokerId), this.pod, count, limit, this.#leaseTtlMs) === 1
  }

  async admitRetained (brokerId: string, topic: string, clearing: boolean, max: number): Promise<boolean> {
    return await this.#redis.starlingQuotaRetained(quotaRetainedKey(brokerId), topic, clearing ? '1' : '0', max) === 1
  }

  async usage (brokerId: string, plan: UsagePlan): Promise<UsageCounts> {
    const keys = [...plan.hours.map((h) => usageHourKey(brokerId, h)), ...plan.minutes.map((m) => usageMinuteKey(brokerId, m))]
    // All in one slot; auto-pipelining sends them together.
    const replies = await Promise.all(keys.map((key) => this.#redis.hmget(key, 'mi', 'mo', 'bi', 'bo')))
    const total = emptyCounts()
    for (const [mi, mo, bi, bo] of replies) {
      total.messagesIn += Number(mi ?? 0)
      total.messagesOut += Number(mo ?? 0)
      total.bytesIn += Number(bi ?? 0)
      total.bytesOut += Number(bo ?? 0)
    }
    return total
  }

  async release (brokerIds: readonly string[]): Promise<void> {
    await Promise.all(brokerIds.map(async (id) => {
      await this.#redis.hdel(quotaConnectionsKey(id), this.pod)
      await this.#redis.zrem(quotaLeasesKey(id), this.pod)
    }))
  }

  async close (): Promise<void> {
    if (this.#ownsClient && this.#redis.status !== 'end') this.#redis.disconnect()
  }
}
