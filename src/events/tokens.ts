import { decodeJwt } from 'jose'
import { mountFor } from '../tenancy/mount.js'
import { DEFAULT_BROKER, DEFAULT_NAMESPACE } from '../tenancy/select.js'
import type { BrokerRecord, TokenAuthority } from '../tenancy/types.js'
import { TRIGGER_TOPICS } from './names.js'
import type { TriggerPublisher, TriggerSpace } from './publisher.js'

/** The topic space of a broker record: the default broker has no mount (src/tenancy/select.ts). */
export function spaceOfBroker (broker: Pick<BrokerRecord, 'id' | 'namespace' | 'name'>): TriggerSpace {
  const isDefault = broker.namespace === DEFAULT_NAMESPACE && broker.name === DEFAULT_BROKER
  return { mount: isDefault ? '' : mountFor(broker.id), namespace: broker.namespace, broker: broker.name }
}

function jtiOf (token: string): string | undefined {
  try {
    const jti = decodeJwt(token).jti
    return typeof jti === 'string' ? jti : undefined
  } catch {
    return undefined
  }
}

/**
 * The token authority with `$trigger/device/created` (one event per credential issued, naming its
 * client id and token id, never the token) and `$trigger/device/revoked` (one per token id).
 * Published by the pod that made the call (the one that served the API request), so once.
 */
export function withTokenEvents (tokens: TokenAuthority, publisher: TriggerPublisher): TokenAuthority {
  return new Proxy(tokens, {
    get (target, property, receiver) {
      if (property === 'issue') {
        return async (broker: BrokerRecord, options: Parameters<TokenAuthority['issue']>[1]) => {
          const issued = await target.issue(broker, options)
          const space = spaceOfBroker(broker)
          await Promise.all(Object.entries(issued).map(([clientId, token]) => {
            const jti = jtiOf(token)
            return publisher.publish(TRIGGER_TOPICS.deviceCreated, space, { clientId, ...(jti !== undefined ? { jti } : {}) })
          }))
          return issued
        }
      }
      if (property === 'revoke') {
        return async (broker: BrokerRecord, jtis: readonly string[]) => {
          await target.revoke(broker, jtis)
          const space = spaceOfBroker(broker)
          await Promise.all([...new Set(jtis)].map((jti) => publisher.publish(TRIGGER_TOPICS.deviceRevoked, space, { jti })))
        }
      }
      const value = Reflect.get(target, property, receiver) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}
