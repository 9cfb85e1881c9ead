import { randomBytes } from 'node:crypto'
import { StarlingTokenAuthority } from '../auth/authority.js'
import { resolveSecretKey } from '../auth/secret.js'
import { Sealer } from '../auth/sealing.js'
import { privateKeyObject, signingKeyFactory } from '../auth/signing-keys.js'
import type { RedisSettings } from '../cluster/redis.js'
import type { StarlingConfig } from '../config/schema.js'
import { isStarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { IdentityBackend } from './backend.js'
import { FileBackend } from './file-backend.js'
import { RedisBackend } from './redis-backend.js'
import { newestKey } from './stored.js'
import { CachedTenancyStore } from './store.js'
import type { AuthType, BrokerRecord, TenancyStore, TokenAuthority } from './types.js'
import { DeviceStore } from '../mqtt-auth/devices.js'

/**
 * Tenancy and tokens for one pod: the store (Redis in cluster mode, `dataDir` otherwise), the
 * token authority, and the `default` namespace and broker every installation has.
 */

export interface Identity {
  readonly tenancy: TenancyStore
  readonly tokens: TokenAuthority
  /** Devices of auth over MQTT (name and hashed key per broker). */
  readonly devices: DeviceStore
  /**
   * The `default` broker (CONNECTs that name no broker), created again as at start when it is
   * gone, e.g. after the cluster's Redis lost its data: the pod keeps serving as configured.
   */
  defaultBroker (): Promise<BrokerRecord>
  close (): Promise<void>
}

export interface IdentityOptions {
  readonly config: StarlingConfig
  readonly logger: Logger
  /** Cluster mode's Redis (`redisSettings(config.redis)`); absent: the embedded file store. */
  readonly redis?: RedisSettings | undefined
  /** Milliseconds since the epoch (tests move it). */
  readonly clock?: () => number
}

export const DEFAULT_NAMESPACE = 'default'
export const DEFAULT_BROKER = 'default'

/** `auth.defaultBrokerAuthType` as applied: `auto` is NONE embedded (the quick start), TOKEN in cluster mode. */
export function defaultBrokerAuthType (config: StarlingConfig, clustered: boolean): AuthType {
  const setting = config.auth.defaultBrokerAuthType
  if (setting !== 'auto') return setting
  return clustered ? 'TOKEN' : 'NONE'
}

export function isLoopbackHost (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

export async function createIdentity (options: IdentityOptions): Promise<Identity> {
  const { config, logger } = options
  const clustered = options.redis !== undefined
  const sealer = new Sealer(resolveSecretKey(config, clustered, logger))
  const keys = signingKeyFactory(sealer)
  const origin = `${config.nodeId}/${randomBytes(6).toString('hex')}`
  const backend: IdentityBackend = options.redis !== undefined
    ? await RedisBackend.connect(options.redis, { nodeId: config.nodeId, logger })
    : new FileBackend(config.dataDir)
  let store: CachedTenancyStore | undefined
  let tokens: StarlingTokenAuthority | undefined
  try {
    store = await CachedTenancyStore.open(backend, {
      endpoint: { domain: config.tenancy.domain, tlsPort: config.tls.port },
      keys,
      origin,
      ...(options.clock !== undefined ? { clock: options.clock } : {})
    })
    tokens = await StarlingTokenAuthority.open({
      store,
      backend,
      sealer,
      keys,
      logger,
      origin,
      revocationsMax: config.auth.revocationsMax,
      clockToleranceSeconds: config.auth.clockToleranceSeconds,
      jwks: { cooldownMs: config.auth.jwksCooldownMs, cacheMaxAgeMs: config.auth.jwksCacheMaxAgeMs, timeoutMs: config.auth.jwksTimeoutMs },
      ...(options.clock !== undefined ? { clock: options.clock } : {})
    })
    await ensureDefaultBroker(store, defaultBrokerAuthType(config, clustered), config.auth.defaultBrokerAuthType !== 'auto', logger)
    checkSecret(store, sealer)
    warnAnonymous(store, config, logger)
  } catch (err) {
    await tokens?.close()
    await store?.close()
    await backend.close()
    throw err
  }
  const opened = { store, tokens }
  let closing: Promise<void> | undefined
  let ensuring: Promise<void> | undefined
  const authType = defaultBrokerAuthType(config, clustered)
  const enforce = config.auth.defaultBrokerAuthType !== 'auto'
  const defaultBroker = async (): Promise<BrokerRecord> => {
    const cached = opened.store.findBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER)
    if (cached !== undefined) return cached
    ensuring ??= ensureDefaultBroker(opened.store, authType, enforce, logger).finally(() => { ensuring = undefined })
    await ensuring
    return await opened.store.getBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER)
  }
  // A reload that finds the default broker gone (Redis emptied) brings it back at once.
  opened.store.onReload(() => {
    if (closing === undefined && opened.store.findBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER) === undefined) {
      defaultBroker().catch((err: unknown) => logger.warn({ err }, 'tenancy: could not create the default broker again'))
    }
  })
  return {
    tenancy: opened.store,
    tokens: opened.tokens,
    devices: new DeviceStore(backend, options.clock),
    defaultBroker,
    close () {
      closing ??= (async () => {
        await opened.tokens.close()
        await opened.store.close()
        await backend.close()
      })()
      return closing
    }
  }
}

async function ensureDefaultBroker (store: CachedTenancyStore, authType: AuthType, enforce: boolean, logger: Logger): Promise<void> {
  try {
    await store.createNamespace({ name: DEFAULT_NAMESPACE, description: 'created at start' })
  } catch (err) {
    if (!isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS')) throw err
  }
  try {
    await store.createBroker(DEFAULT_NAMESPACE, { name: DEFAULT_BROKER, authType, description: 'created at start' })
    logger.info({ namespace: DEFAULT_NAMESPACE, broker: DEFAULT_BROKER, authType }, 'tenancy: created the default broker')
  } catch (err) {
    if (!isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS')) throw err
    const current = await store.getBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER)
    if (enforce && current.authType !== authType) {
      await store.updateBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER, { authType })
      logger.info({ namespace: DEFAULT_NAMESPACE, broker: DEFAULT_BROKER, from: current.authType, authType }, 'tenancy: default broker auth type set from auth.defaultBrokerAuthType')
    }
  }
}

/** A wrong secret shows at start, not at the first token issued: open one signing key now. */
function checkSecret (store: CachedTenancyStore, sealer: Sealer): void {
  const broker = store.cachedBrokers()[0]
  const key = broker !== undefined ? newestKey(broker) : undefined
  if (broker !== undefined && key !== undefined) privateKeyObject(sealer, broker.id, key)
}

function warnAnonymous (store: CachedTenancyStore, config: StarlingConfig, logger: Logger): void {
  const anonymous = store.cachedBrokers().filter((b) => b.authType === 'NONE').map((b) => `${b.name}.${b.namespace}`)
  // Every MQTT listener (TCP, TLS, WS, WSS) binds mqtt.host.
  if (anonymous.length > 0 && !isLoopbackHost(config.mqtt.host)) {
    logger.warn({ brokers: anonymous, host: config.mqtt.host }, 'anonymous brokers (auth type NONE) are reachable beyond loopback: anyone who reaches the MQTT port can connect; set auth.defaultBrokerAuthType=TOKEN (or update the brokers) to require tokens')
  }
}
