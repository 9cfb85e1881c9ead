import type { Client } from '../broker/engine.js'
import type { ConnectStep } from '../broker/connect-guard.js'
import { originOf } from '../broker/observe.js'
import { StarlingError } from '../errors.js'
import { internalClientId, isTenantTopic, TENANT_PREFIX } from './mount.js'
import { DEFAULT_TENANT, selectTenant, type TenantContext, type TenantSelectionDeps } from './select.js'

/** The fields of an aedes client the engine's tenant hunks read (aedes lib/tenant.js). */
interface TenantFields {
  id: string
  /** The client's mount; '' or absent for the default broker. */
  _mount?: string
  _will?: { topic: string } | null
}

const tenants = new WeakMap<Client, TenantContext>()

/** The tenant a connected (or connecting) client belongs to; the default broker's until chosen. */
export function tenantOf (client: Client): TenantContext {
  return tenants.get(client) ?? DEFAULT_TENANT
}

/** The client id the client itself knows (without the tenant scope). */
export function clientIdOf (client: Client): string {
  // By the client's own mount: a default-broker client id may itself look like `$t/...`.
  return client.id.slice((client as unknown as TenantFields)._mount?.length ?? 0)
}

/**
 * Puts a connecting client into a tenant's topic space, under `clientId` (default: the id it
 * connected with). Call during CONNECT, before the session is fetched (aedes' authenticate hook):
 * from then on its session, takeovers, client id claim, will and expiry are keyed by the
 * tenant-scoped id `<mount><clientId>`, its topics are mounted, and it never sees either.
 * May be called again (the token step, once it knows the token's broker and client id).
 */
export function enterTenant (client: Client, tenant: TenantContext, clientId: string = clientIdOf(client)): void {
  // A default-broker client id must not look like a tenant-scoped one: it would share its session.
  if (tenant.mount === '' && clientId.startsWith(TENANT_PREFIX)) throw new StarlingError('STARLING_ERR_CLIENT_ID_RESERVED')
  const fields = client as unknown as TenantFields
  fields._mount = tenant.mount
  fields.id = internalClientId(tenant.mount, clientId)
  tenants.set(client, tenant)
}

/** What the tenant step needs: the brokers, the endpoint domain, and the broker CONNECT chose. */
export interface TenantStepDeps extends TenantSelectionDeps {
  /** The broker the auth step chose for the client (endpoint, token or default), when it ran. */
  readonly chosen?: (client: Client) => { readonly namespace: string, readonly name: string } | undefined
}

/**
 * The CONNECT step that enters the client into its broker's topic space: the broker the auth step
 * chose (src/auth/connect-auth.ts: the endpoint's, the token's, or the default), or without an
 * auth step the one the endpoint name (TLS SNI, WebSocket Host header) selects. Put it before the
 * steps that read the client id (connection limit, client id policy): they see the tenant-scoped id.
 */
export function tenantStep (deps: TenantStepDeps): ConnectStep {
  return function selectTenantStep (ctx) {
    const will = (ctx.client as unknown as TenantFields)._will
    // The will topic is in the client's own space: `$t/` is nobody's (CONNACK 0x90 Topic Name
    // invalid, which MQTT 5 §3.2.2.2 gives for a will topic the server does not accept).
    if (will !== null && will !== undefined && isTenantTopic(will.topic)) throw new StarlingError('STARLING_ERR_WILL_TOPIC_RESERVED')
    const chosen = deps.chosen?.(ctx.client)
    const token = chosen !== undefined ? { namespace: chosen.namespace, broker: chosen.name } : undefined
    enterTenant(ctx.client, selectTenant({ serverName: originOf(ctx.client).serverName, token }, deps))
  }
}
