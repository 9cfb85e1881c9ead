import { StarlingError } from '../errors.js'
import { mountFor } from './mount.js'

/** Which broker's topic space a connection belongs to. Attached to the client at CONNECT (context.ts). */
export interface TenantContext {
  readonly namespace: string
  readonly broker: string
  /** The broker's stable id ('default' for the default broker of an installation without tenancy). */
  readonly brokerId: string
  /** `$t/<brokerId>/`, or '' for the default broker (today's topic layout, no mount). */
  readonly mount: string
}

/** The broker a name or a token designates. */
export interface BrokerName {
  readonly namespace: string
  readonly broker: string
}

/** Existing brokers, by name (TenancyStore.findBroker fits; tests build it from a plain list). */
export type FindBroker = (namespace: string, name: string) => { readonly id: string } | undefined

/** What selects a connection's broker. */
export interface TenantSelectionInput {
  /** The TLS SNI name or the WebSocket Host header (port stripped), when the connection had one. */
  readonly serverName?: string | undefined
  /** The broker a verified token names (TOKEN / JWKS auth), when there is one. */
  readonly token?: BrokerName | undefined
}

export interface TenantSelectionDeps {
  readonly findBroker: FindBroker
  /** `tenancy.domain`: endpoints are `<broker>.<namespace>.<domain>`; '' turns endpoint selection off. */
  readonly domain: string
}

export const DEFAULT_NAMESPACE = 'default'
export const DEFAULT_BROKER = 'default'

/** The default broker: no mount, so single-tenant installations keep their topics and stored data. */
export const DEFAULT_TENANT: TenantContext = Object.freeze({ namespace: DEFAULT_NAMESPACE, broker: DEFAULT_BROKER, brokerId: 'default', mount: '' })

/** RFC 1035 label (lower case: host names are compared without case). */
const LABEL = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/**
 * The broker an endpoint name designates: `<broker>.<namespace>.<domain>` (case-insensitive, a
 * trailing dot ignored); undefined for any other name (an address, the bare domain, more labels).
 */
export function endpointOf (serverName: string | undefined, domain: string): BrokerName | undefined {
  if (serverName === undefined || domain === '') return undefined
  const name = serverName.toLowerCase().replace(/\.$/, '')
  const suffix = '.' + domain.toLowerCase().replace(/\.$/, '')
  if (!name.endsWith(suffix)) return undefined
  const labels = name.slice(0, -suffix.length).split('.')
  if (labels.length !== 2) return undefined
  const [broker, namespace] = labels as [string, string]
  if (!LABEL.test(broker) || !LABEL.test(namespace)) return undefined
  return { namespace, broker }
}

function isDefault (name: BrokerName): boolean {
  return name.namespace === DEFAULT_NAMESPACE && name.broker === DEFAULT_BROKER
}

/**
 * Chooses the broker of a connection: the token's broker, else the endpoint name's, else the
 * default broker. A token for another broker than the endpoint it came through is refused
 * (STARLING_ERR_TENANT_MISMATCH, CONNACK 0x87 / 5), as is a name of a broker that does not exist
 * (STARLING_ERR_TENANT_UNKNOWN, CONNACK 0x87 Not authorized / 5: MQTT 5 §3.2.2.2 has no "no
 * such server" code; 0x87 also tells nobody whether the broker exists). The default broker has
 * no mount, whether or not the store lists it.
 */
export function selectTenant (input: TenantSelectionInput, deps: TenantSelectionDeps): TenantContext {
  const endpoint = endpointOf(input.serverName, deps.domain)
  if (input.token !== undefined && endpoint !== undefined &&
      (input.token.namespace !== endpoint.namespace || input.token.broker !== endpoint.broker)) {
    throw new StarlingError('STARLING_ERR_TENANT_MISMATCH', [`${endpoint.broker}.${endpoint.namespace}`])
  }
  const chosen = input.token ?? endpoint
  if (chosen === undefined || isDefault(chosen)) {
    const found = deps.findBroker(DEFAULT_NAMESPACE, DEFAULT_BROKER)
    return found === undefined ? DEFAULT_TENANT : { ...DEFAULT_TENANT, brokerId: found.id }
  }
  const found = deps.findBroker(chosen.namespace, chosen.broker)
  if (found === undefined) throw new StarlingError('STARLING_ERR_TENANT_UNKNOWN', [chosen.broker, chosen.namespace])
  return { namespace: chosen.namespace, broker: chosen.broker, brokerId: found.id, mount: mountFor(found.id) }
}
