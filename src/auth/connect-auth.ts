import type { Client } from '../broker/engine.js'
import type { ConnectStep } from '../broker/connect-guard.js'
import { originOf } from '../broker/observe.js'
import { StarlingError, isStarlingError } from '../errors.js'
import { DEFAULT_BROKER, DEFAULT_NAMESPACE } from '../tenancy/identity.js'
import type { BrokerRecord, TenancyStore, TokenAuthority, VerifiedToken } from '../tenancy/types.js'
import { peekTokenBroker } from './claims.js'
import type { FailureThrottle } from './failure-throttle.js'

/** The broker a connection belongs to and, for TOKEN/JWKS brokers, what its token grants. */
export interface ClientIdentity {
  readonly broker: BrokerRecord
  readonly token: VerifiedToken | undefined
}

const identities = new WeakMap<Client, ClientIdentity>()

/** What CONNECT decided for this client (undefined before its CONNECT was authenticated). */
export function clientIdentity (client: Client | null | undefined): ClientIdentity | undefined {
  return client === null || client === undefined ? undefined : identities.get(client)
}

/**
 * The broker a connection's endpoint selects (TLS SNI or WebSocket Host `<broker>.<namespace>.<domain>`),
 * when it selects one; undefined: the endpoint names none (plain TCP, an IP address, another name).
 */
export type EndpointBroker = (client: Client) => BrokerRecord | undefined

export interface ConnectAuthOptions {
  readonly tenancy: Pick<TenancyStore, 'findBroker'>
  /** The `default` broker, created again when it is gone (Identity.defaultBroker). */
  readonly defaultBroker: () => Promise<BrokerRecord>
  readonly tokens: Pick<TokenAuthority, 'verify'>
  readonly throttle: FailureThrottle
  readonly endpointBroker?: EndpointBroker | undefined
}

/** aedes fields the step reads and sets (MQTT 5 Assigned Client Identifier). */
interface ConnectingClient {
  id: string
  readonly version: number
  /** Set by aedes when the CONNECT had an empty client id: the id it generated, sent back in a v5 CONNACK. */
  _assignedClientId: string | undefined
}

/**
 * The token as the client sent it: the CONNECT password (any username), or the username when
 * there is no password, for clients with only one field.
 */
export function connectToken (username: string | undefined, password: Buffer | undefined): string | undefined {
  if (password !== undefined && password.length > 0) return password.toString('utf8')
  if (username !== undefined && username.length > 0) return username
  return undefined
}

/**
 * The CONNECT step of brokers' auth types. The broker is the endpoint's when it names one, else
 * the one a Starling token names (`aud`), else the `default` broker. NONE accepts as today; TOKEN
 * and JWKS verify the token and give the connection the token's client id:
 * - MQTT 5: whatever id the client sent (another, or none) is replaced by the token's and returned
 *   as Assigned Client Identifier in the CONNACK [MQTT-3.2.2-3.2.2.3.7];
 * - MQTT 3.1.1 (and 3.1): the client must send the token's id, or an empty one (aedes has already
 *   refused an empty id without CleanSession with return code 2 [MQTT-3.1.3-8]); any other id is
 *   refused with return code 2, identifier rejected.
 * So a client id is only ever taken over by a holder of a valid token for it.
 */
export function authenticateBrokerClient (options: ConnectAuthOptions): ConnectStep {
  return function authenticateBrokerClient (ctx) {
    const token = connectToken(ctx.username, ctx.password)
    const broker = selectBroker(options, ctx.client, token)
    if (broker === undefined) {
      // The default broker is gone from the cache (Redis emptied): wait for it to be created again.
      return options.defaultBroker().then(
        (fallback) => admit(options, ctx.client, fallback, token),
        (err: unknown) => { throw new StarlingError('STARLING_ERR_NOT_READY', [], { cause: err }) })
    }
    return admit(options, ctx.client, broker, token)
  }
}

function admit (options: ConnectAuthOptions, client: Client, broker: BrokerRecord, token: string | undefined): void | Promise<void> {
  if (broker.authType === 'NONE') {
    identities.set(client, { broker, token: undefined })
    return
  }
  if (token === undefined) throw new StarlingError('STARLING_ERR_TOKEN_MISSING')
  return verifyAndBind(options, client, broker, token)
}

/** The broker of a connection; undefined: the default broker, which the cache does not hold now. */
function selectBroker (options: ConnectAuthOptions, client: Client, token: string | undefined): BrokerRecord | undefined {
  const endpoint = options.endpointBroker?.(client)
  // On the endpoint of a broker, a token of another broker is refused by its audience in verify().
  if (endpoint !== undefined) return endpoint
  const named = token !== undefined ? peekTokenBroker(token) : undefined
  if (named !== undefined) {
    const broker = options.tenancy.findBroker(named.namespace, named.broker)
    if (broker === undefined) throw new StarlingError('STARLING_ERR_TOKEN_WRONG_BROKER')
    return broker
  }
  return options.tenancy.findBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER)
}

async function verifyAndBind (options: ConnectAuthOptions, client: Client, broker: BrokerRecord, token: string): Promise<void> {
  const address = originOf(client).remoteAddress
  const delay = options.throttle.delayMs(address)
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
  let grant: VerifiedToken
  try {
    grant = await options.tokens.verify(broker, token)
    bindClientId(client as unknown as ConnectingClient, grant.clientId)
  } catch (err) {
    // The identity provider being unreachable is not the client's failure.
    if (!isStarlingError(err, 'STARLING_ERR_JWKS_UNAVAILABLE')) options.throttle.recordFailure(address)
    throw err
  }
  identities.set(client, { broker, token: grant })
}

function bindClientId (client: ConnectingClient, tokenClientId: string): void {
  // aedes generated an id for an empty one: the client sent none.
  const sent = client._assignedClientId !== undefined ? '' : client.id
  if (client.version === 5) {
    client.id = tokenClientId
    client._assignedClientId = sent === tokenClientId ? undefined : tokenClientId
    return
  }
  if (sent !== '' && sent !== tokenClientId) throw new StarlingError('STARLING_ERR_TOKEN_CLIENT_ID')
  client.id = tokenClientId
  // A 3.1.1 CONNACK has no properties: nothing to assign.
  client._assignedClientId = undefined
}
