import type { AuthenticateHook, Client } from './engine.js'
import type { StarlingConfig } from '../config/schema.js'
import { StarlingError } from '../errors.js'
import type { BrokerMetrics } from '../metrics/registry.js'
import type { Logger } from '../logger.js'

/** Read-only view of the node's lifecycle, as the connect steps need it. */
export interface NodeState {
  readonly ready: boolean
  readonly draining: boolean
}

export interface ConnectContext {
  readonly client: Client
  readonly username: string | undefined
  readonly password: Buffer | undefined
}

/** A named step of the CONNECT pipeline: throw a StarlingError to refuse the connection. */
export type ConnectStep = (ctx: ConnectContext) => void | Promise<void>

interface BrokerView {
  readonly connectedClients: number
  readonly clients: Readonly<Record<string, Client>>
}

export function refuseWhenDraining (state: NodeState): ConnectStep {
  return function refuseWhenDraining () {
    if (state.draining) throw new StarlingError('STARLING_ERR_SERVER_DRAINING')
    if (!state.ready) throw new StarlingError('STARLING_ERR_NOT_READY')
  }
}

/**
 * Refuses a CONNECT beyond `limit` connections. Counted: the sockets accepted before this one
 * and still without CONNECT (`halfOpenBefore`), plus registered clients plus those admitted
 * by this step and not yet registered (aedes registers a client only after the session and will
 * are loaded, which takes a round trip to a network persistence), so a burst of simultaneous
 * CONNECTs cannot pass the limit. An admitted client leaves the pending set once it is
 * registered or closed (checked on the next CONNECT; the set holds at most one burst).
 */
export function enforceMaxConnections (broker: BrokerView, limit: number, halfOpenBefore?: (client: Client, cap: number) => number, onRefused?: () => void): ConnectStep {
  const admitted = new Set<Client>()
  return function enforceMaxConnections (ctx) {
    for (const client of admitted) {
      if (client.closed || broker.clients[client.id] === client) admitted.delete(client)
    }
    // Sockets accepted before this one that have not sent CONNECT (or a PROXY header) yet count
    // too (src/listeners/socket-budget.ts); from now on this one is no longer half-open.
    const clients = broker.connectedClients + admitted.size
    const halfOpen = halfOpenBefore?.(ctx.client, Math.max(0, limit - clients)) ?? 0
    // A takeover replaces a connection, so it never pushes the count over the limit.
    if (broker.clients[ctx.client.id] !== undefined) return
    if (clients + halfOpen >= limit) {
      onRefused?.()
      throw new StarlingError('STARLING_ERR_MAX_CONNECTIONS', [limit])
    }
    if (!ctx.client.closed) admitted.add(ctx.client)
  }
}

/** Cluster mode: takes a client id for a connection, atomically across pods (false: held by a live connection). */
export interface ClientIdOwners {
  claim (client: Client): Promise<boolean>
}

/**
 * `clientIdConflict: reject` refuses a CONNECT whose client id is connected already, on this
 * pod or (cluster mode, `owners` set) on any other live pod.
 */
export function enforceClientIdPolicy (broker: BrokerView, policy: StarlingConfig['clientIdConflict'], owners?: () => ClientIdOwners | undefined): ConnectStep {
  return function enforceClientIdPolicy (ctx) {
    if (policy !== 'reject') return
    const existing = broker.clients[ctx.client.id]
    if (existing !== undefined && existing !== ctx.client && !existing.closed) {
      throw new StarlingError('STARLING_ERR_CLIENT_ID_CONFLICT')
    }
    const cluster = owners?.()
    if (cluster === undefined) return
    return cluster.claim(ctx.client).then((claimed) => {
      if (!claimed) throw new StarlingError('STARLING_ERR_CLIENT_ID_CONFLICT')
    })
  }
}

type AuthenticateCallback = (error: (Error & { returnCode?: number, reasonCode?: number }) | null, success: boolean | null) => void

/**
 * Runs the steps in order and answers aedes' authenticate hook. A refusal carries both the
 * v3.1.1 return code and the v5 reason code, so aedes writes the right CONNACK for either
 * protocol (the reason-code pass-through is one of our aedes patches).
 */
export function composeAuthenticate (steps: readonly ConnectStep[], metrics: BrokerMetrics, logger: Logger): AuthenticateHook {
  return function authenticate (client: Client, username: string | undefined, password: Buffer | undefined, done: AuthenticateCallback): void {
    const ctx: ConnectContext = { client, username, password }
    let i = 0
    const next = (): void => {
      while (i < steps.length) {
        const step = steps[i++] as ConnectStep
        let result: void | Promise<void>
        try {
          result = step(ctx)
        } catch (err) {
          refuse(err)
          return
        }
        if (result instanceof Promise) {
          result.then(next, refuse)
          return
        }
      }
      done(null, true)
    }
    const refuse = (err: unknown): void => {
      const starling = err instanceof StarlingError ? err : new StarlingError('STARLING_ERR_NOT_READY', [], { cause: err })
      metrics.connectsRefused.inc({ reason: starling.code.replace('STARLING_ERR_', '').toLowerCase() })
      logger.info({ clientId: client.id, code: starling.code }, 'connect refused: %s', starling.message)
      // aedes reads returnCode (5 when missing) and, for MQTT 5, reasonCode from the error.
      done(starling, false)
    }
    next()
  }
}
