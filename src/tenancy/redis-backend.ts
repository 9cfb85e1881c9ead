import { EventEmitter } from 'node:events'
import { devicesKey, issuedTokensKey, revocationExpiryKey, revocationsChannel, revocationTimesKey, tenancyBrokersKey, tenancyChangesChannel, tenancyNamespacesKey } from '../cluster/keys.js'
import { isSharded, onChannelText, publishMessage, subscribeChannels } from '../cluster/pubsub.js'
import { closeRedisClient, createRedisClient, type RedisClient, type RedisSettings } from '../cluster/redis.js'
import type { Logger } from '../logger.js'
import { ISSUED_KEPT_MAX, type IdentityBackend, type IdentityEvent, type PutResult, type RevocationEntry } from './backend.js'

/**
 * Cluster mode's store (keys in src/cluster/keys.ts). Namespaces and brokers are two hashes
 * sharing the `{tenancy}` hash tag, so each compare-and-set script touches one Redis Cluster
 * slot while still checking the other hash (a namespace is deleted only without brokers, a broker
 * created only in an existing namespace). A broker's revocations share the `{rev:<id>}` tag.
 * Every change is announced on a pub/sub channel; each pod's cache re-reads what changed.
 */

/** KEYS: own hash, other hash. ARGV: field, expected?, expected, next?, next, mode. */
const PUT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  if cur ~= ARGV[3] then return 'conflict' end
elseif cur then
  return 'conflict'
end
if ARGV[4] == '1' then
  if ARGV[6] == 'broker' and ARGV[2] ~= '1' and redis.call('HEXISTS', KEYS[2], ARGV[7]) == 0 then return 'missing-namespace' end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
  return 'ok'
end
if ARGV[6] == 'namespace' then
  local prefix = ARGV[1] .. '/'
  for _, path in ipairs(redis.call('HKEYS', KEYS[2])) do
    if string.sub(path, 1, #prefix) == prefix then return 'not-empty' end
  end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 'ok'
`

/** KEYS: expiry ZSET, revoked-on HASH, issued ZSET. ARGV: now, max, revoked on, jtis... Reply: -1 (full) or [jti, expiry|'']... */
const REVOKE = `
local now = tonumber(ARGV[1])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, jti in ipairs(old) do redis.call('HDEL', KEYS[2], jti) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local added = 0
for i = 4, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i]) then added = added + 1 end
end
if redis.call('ZCARD', KEYS[1]) + added > tonumber(ARGV[2]) then return -1 end
local out = {}
for i = 4, #ARGV do
  local expiry = redis.call('ZSCORE', KEYS[3], ARGV[i])
  redis.call('ZADD', KEYS[1], expiry or '+inf', ARGV[i])
  redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[3])
  out[#out + 1] = ARGV[i]
  out[#out + 1] = expiry or ''
end
return out
`

type Eval = (script: string, numKeys: number, ...args: Array<string | number>) => Promise<unknown>

export class RedisBackend implements IdentityBackend {
  readonly kind = 'cluster' as const
  readonly #commands: RedisClient
  readonly #subscriber: RedisClient
  readonly #events = new EventEmitter()
  readonly #logger: Logger
  #closed = false

  private constructor (commands: RedisClient, subscriber: RedisClient, logger: Logger) {
    this.#commands = commands
    this.#subscriber = subscriber
    this.#logger = logger
  }

  /** Connects and subscribes to the change channels before returning, so no change is missed. */
  static async connect (settings: RedisSettings, options: { nodeId: string, logger: Logger }): Promise<RedisBackend> {
    const commands = createRedisClient(settings, { role: 'identity', nodeId: options.nodeId, logger: options.logger, autoPipelining: true })
    const subscriber = createRedisClient(settings, { role: 'identity-events', nodeId: options.nodeId, logger: options.logger, pubsub: true })
    const backend = new RedisBackend(commands, subscriber, options.logger)
    try {
      await backend.#listen()
    } catch (err) {
      await backend.close()
      throw err
    }
    return backend
  }

  async #listen (): Promise<void> {
    onChannelText(this.#subscriber, isSharded(this.#subscriber), (channel, message) => {
      if (channel !== tenancyChangesChannel() && channel !== revocationsChannel()) return
      let event: IdentityEvent
      try {
        event = JSON.parse(message) as IdentityEvent
      } catch {
        this.#logger.warn({ channel }, 'tenancy: ignored a malformed notification')
        return
      }
      this.#events.emit('event', event)
    })
    await subscribeChannels(this.#subscriber, isSharded(this.#subscriber), [tenancyChangesChannel(), revocationsChannel()])
    // ioredis re-subscribes after a reconnect; what was announced meanwhile is lost, so reload.
    let first = true
    this.#subscriber.on('ready', () => {
      if (first) { first = false; return }
      if (!this.#closed) this.#events.emit('resync')
    })
    if (this.#subscriber.status === 'ready') first = false
  }

  #eval (script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown> {
    return (this.#commands.eval as unknown as Eval).call(this.#commands, script, numKeys, ...args)
  }

  async loadNamespaces (): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.#commands.hgetall(tenancyNamespacesKey())))
  }

  async loadBrokers (): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.#commands.hgetall(tenancyBrokersKey())))
  }

  async readNamespace (name: string): Promise<string | undefined> {
    return await this.#commands.hget(tenancyNamespacesKey(), name) ?? undefined
  }

  async readBroker (namespace: string, name: string): Promise<string | undefined> {
    return await this.#commands.hget(tenancyBrokersKey(), `${namespace}/${name}`) ?? undefined
  }

  async putNamespace (name: string, expected: string | undefined, next: string | undefined): Promise<PutResult> {
    return await this.#eval(PUT, 2, tenancyNamespacesKey(), tenancyBrokersKey(), name,
      expected !== undefined ? '1' : '0', expected ?? '', next !== undefined ? '1' : '0', next ?? '', 'namespace') as PutResult
  }

  async putBroker (namespace: string, name: string, expected: string | undefined, next: string | undefined): Promise<PutResult> {
    return await this.#eval(PUT, 2, tenancyBrokersKey(), tenancyNamespacesKey(), `${namespace}/${name}`,
      expected !== undefined ? '1' : '0', expected ?? '', next !== undefined ? '1' : '0', next ?? '', 'broker', namespace) as PutResult
  }

  async recordIssued (brokerId: string, tokens: ReadonlyArray<{ jti: string, expiresAt: number }>): Promise<void> {
    if (tokens.length === 0) return
    const key = issuedTokensKey(brokerId)
    await this.#commands.multi()
      .zremrangebyscore(key, '-inf', Date.now())
      .zadd(key, ...tokens.flatMap((token) => [token.expiresAt, token.jti]))
      .zremrangebyrank(key, 0, -ISSUED_KEPT_MAX.cluster - 1)
      .exec()
  }

  async revoke (brokerId: string, jtis: readonly string[], revokedOn: string, max: number, now: number): Promise<'full' | Array<{ jti: string, expiresAt: number | null }>> {
    const reply = await this.#eval(REVOKE, 3, revocationExpiryKey(brokerId), revocationTimesKey(brokerId), issuedTokensKey(brokerId),
      now, max, revokedOn, ...jtis)
    if (reply === -1) return 'full'
    const flat = reply as string[]
    const out: Array<{ jti: string, expiresAt: number | null }> = []
    for (let i = 0; i < flat.length; i += 2) out.push({ jti: flat[i] as string, expiresAt: flat[i + 1] === '' ? null : Number(flat[i + 1]) })
    return out
  }

  async unrevoke (brokerId: string, jtis: readonly string[]): Promise<void> {
    await this.#commands.multi()
      .zrem(revocationExpiryKey(brokerId), ...jtis)
      .hdel(revocationTimesKey(brokerId), ...jtis)
      .exec()
  }

  async revocations (brokerId: string, now: number): Promise<RevocationEntry[]> {
    const replies = await this.#commands.multi()
      .zrangebyscore(revocationExpiryKey(brokerId), `(${now}`, '+inf', 'WITHSCORES')
      .hgetall(revocationTimesKey(brokerId))
      .exec()
    const flat = (replies?.[0]?.[1] ?? []) as string[]
    const times = (replies?.[1]?.[1] ?? {}) as Record<string, string>
    const out: RevocationEntry[] = []
    for (let i = 0; i < flat.length; i += 2) {
      const jti = flat[i] as string
      const score = flat[i + 1] as string
      out.push({ jti, revokedOn: times[jti] ?? '', expiresAt: score === 'inf' || score === '+inf' ? null : Number(score) })
    }
    return out
  }

  async dropBroker (brokerId: string): Promise<void> {
    // Separate keys (different slots on a Redis Cluster): one DEL each.
    await Promise.all([revocationExpiryKey(brokerId), revocationTimesKey(brokerId), issuedTokensKey(brokerId), devicesKey(brokerId)].map((key) => this.#commands.del(key)))
  }

  async readDevice (brokerId: string, name: string): Promise<string | undefined> {
    return await this.#commands.hget(devicesKey(brokerId), name) ?? undefined
  }

  async listDevices (brokerId: string): Promise<Map<string, string>> {
    return new Map(Object.entries(await this.#commands.hgetall(devicesKey(brokerId))))
  }

  async createDevice (brokerId: string, name: string, json: string): Promise<boolean> {
    return await this.#commands.hsetnx(devicesKey(brokerId), name, json) === 1
  }

  async deleteDevice (brokerId: string, name: string): Promise<boolean> {
    return await this.#commands.hdel(devicesKey(brokerId), name) === 1
  }

  async publish (event: IdentityEvent): Promise<void> {
    const channel = event.type === 'namespace' || event.type === 'broker' ? tenancyChangesChannel() : revocationsChannel()
    await publishMessage(this.#commands, isSharded(this.#commands), channel, JSON.stringify(event))
  }

  onEvent (listener: (event: IdentityEvent) => void): void {
    this.#events.on('event', listener)
  }

  onResync (listener: () => void): void {
    this.#events.on('resync', listener)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#events.removeAllListeners()
    await Promise.all([closeRedisClient(this.#commands), closeRedisClient(this.#subscriber)])
  }
}
