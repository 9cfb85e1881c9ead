import type { Registry } from 'prom-client'
import { redisSettings } from '../cluster/redis.js'
import type { StarlingConfig } from '../config/schema.js'
import type { Logger } from '../logger.js'
import { createIdentity, type Identity } from '../tenancy/identity.js'
import { createOnPublishHooks, type OnPublishHooks } from './on-publish.js'

export { createOnPublishHooks, type OnPublishHooks, type OnPublishDeps } from './on-publish.js'
export { attachJti, jtiOf } from './jti.js'

/**
 * On-publish hooks for `starling serve` (`hooks.enabled`): the pod's tenancy store and token
 * authority (brokers' settings, their signing keys) and the hooks reading them. The node gets
 * `findBroker` too, so a connection's endpoint name selects its broker.
 */
export interface ServeHooks {
  readonly onPublish: OnPublishHooks
  readonly identity: Identity
  close (): Promise<void>
}

export async function openServeHooks (config: StarlingConfig, logger: Logger, registry: Registry): Promise<ServeHooks> {
  const identity = await createIdentity({ config, logger, redis: redisSettings(config.redis) })
  const { tenancy, tokens } = identity
  const onPublish = createOnPublishHooks({
    config,
    logger,
    registry,
    findBroker: (namespace, name) => tenancy.findBroker(namespace, name),
    sign: async (broker, data) => await tokens.sign(broker, data)
  })
  return {
    onPublish,
    identity,
    async close () {
      onPublish.close()
      await identity.close()
    }
  }
}
