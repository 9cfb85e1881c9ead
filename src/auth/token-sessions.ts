import type { Client, Engine } from '../broker/engine.js'
import type { Logger } from '../logger.js'
import type { TenancyStore, TokenAuthority } from '../tenancy/types.js'
import { clientIdentity } from './connect-auth.js'

/** [MQTT5 3.14.2.1] DISCONNECT 0x98 Administrative action: the token was revoked. */
export const REVOKED_DISCONNECT = 0x98
/**
 * DISCONNECT 0x87 Not authorized: the token expired. MQTT 5 has no "credentials expired" code;
 * the connection's authorization ended, which 0x87 says, and 0x98 stays meaning an operator did it.
 */
export const EXPIRED_DISCONNECT = 0x87

export interface TokenSessionsOptions {
  readonly tenancy: Pick<TenancyStore, 'findBroker'>
  readonly tokens: Pick<TokenAuthority, 'onRevoke' | 'isRevoked'>
  readonly logger: Logger
  /** `auth.clockToleranceSeconds`: a token is live until exp + tolerance, as verify() sees it. */
  readonly clockToleranceSeconds: number
  /** Expiry sweep period; default 1000 ms. */
  readonly sweepMs?: number
  readonly clock?: () => number
}

export interface TokenSessions {
  /** Live token-holding connections on this pod (revocation index size). */
  readonly size: number
  stop (): void
}

/**
 * Ends the live sessions of revoked and expired tokens on this pod. Revocations arrive from every
 * pod through `tokens.onRevoke` (within a second); a per-pod index (broker id, jti) → connections
 * finds whom they cut off. Expiries sit in buckets of one second swept by one timer, so the cost
 * is one Set entry per connection and one timer per pod, never a timer per client.
 */
export function trackTokenSessions (broker: Engine, options: TokenSessionsOptions): TokenSessions {
  const clock = options.clock ?? Date.now
  const byJti = new Map<string, Set<Client>>()
  const expiries = new Map<number, Set<Client>>()
  /** Last second swept: buckets up to it are gone. */
  let swept = Math.floor(clock() / 1000)
  const key = (brokerId: string, jti: string): string => `${brokerId}\u0000${jti}`

  const end = (client: Client, reasonCode: number): void => {
    if (client.closed) return
    // MQTT 3.1.1 has no server DISCONNECT: aedes closes the connection [MQTT-3.14.0-1].
    client.disconnect({ reasonCode })
  }

  const forget = (client: Client): void => {
    const token = clientIdentity(client)?.token
    const identity = clientIdentity(client)
    if (token?.jti !== undefined && identity !== undefined) {
      const k = key(identity.broker.id, token.jti)
      const set = byJti.get(k)
      set?.delete(client)
      if (set?.size === 0) byJti.delete(k)
    }
    if (token?.expiresAt !== undefined) {
      const second = token.expiresAt + options.clockToleranceSeconds
      const bucket = expiries.get(second)
      bucket?.delete(client)
      if (bucket?.size === 0) expiries.delete(second)
    }
  }

  const expire = (client: Client): void => {
    const identity = clientIdentity(client)
    if (identity === undefined) return
    // The broker's setting now, not at CONNECT: an operator's change applies to live sessions.
    const current = options.tenancy.findBroker(identity.broker.namespace, identity.broker.name)
    if ((current ?? identity.broker).tokenExpiryAction === 'keep') return
    options.logger.info({ clientId: client.id, namespace: identity.broker.namespace, broker: identity.broker.name }, 'token expired: disconnecting')
    end(client, EXPIRED_DISCONNECT)
  }

  broker.on('client', (client: Client) => {
    const identity = clientIdentity(client)
    const token = identity?.token
    if (identity === undefined || token === undefined) return
    if (token.jti !== undefined) {
      // Revoked between its verification and now: the notification has passed already.
      if (options.tokens.isRevoked(identity.broker.id, token.jti)) {
        end(client, REVOKED_DISCONNECT)
        return
      }
      const k = key(identity.broker.id, token.jti)
      let set = byJti.get(k)
      if (set === undefined) byJti.set(k, set = new Set())
      set.add(client)
    }
    if (token.expiresAt !== undefined) {
      const second = token.expiresAt + options.clockToleranceSeconds
      if (second <= swept) {
        expire(client)
        return
      }
      let bucket = expiries.get(second)
      if (bucket === undefined) expiries.set(second, bucket = new Set())
      bucket.add(client)
    }
  })
  broker.on('clientDisconnect', forget)

  const unsubscribe = options.tokens.onRevoke((brokerId, jtis) => {
    for (const jti of jtis) {
      const set = byJti.get(key(brokerId, jti))
      if (set === undefined) continue
      byJti.delete(key(brokerId, jti))
      for (const client of set) {
        options.logger.info({ clientId: client.id, jti }, 'token revoked: disconnecting')
        end(client, REVOKED_DISCONNECT)
      }
    }
  })

  // Walks the seconds since the last sweep: the work is the expired connections plus one map
  // lookup per elapsed second, whatever the number of connections.
  const timer = setInterval(() => {
    const now = Math.floor(clock() / 1000)
    for (let second = swept + 1; second <= now; second++) {
      const bucket = expiries.get(second)
      if (bucket === undefined) continue
      expiries.delete(second)
      for (const client of bucket) expire(client)
    }
    swept = Math.max(swept, now)
  }, options.sweepMs ?? 1000)
  timer.unref()

  return {
    get size () {
      let n = 0
      for (const set of byJti.values()) n += set.size
      return n
    },
    stop () {
      clearInterval(timer)
      unsubscribe()
    }
  }
}
