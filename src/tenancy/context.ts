import type { Client } from 'aedes'
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

/**
 * The CONNECT step that chooses the broker from the connection's endpoint name (TLS SNI,
 * WebSocket Host header) and enters its topic space. The token step runs after it and may move
 * the client to its token's broker (selectTenant with `token`, then enterTenant). Put it first:
 * the steps after it (connection limit, client id policy) see the tenant-scoped id.
 */
export function tenantStep (deps: TenantSelectionDeps): ConnectStep {
  return function selectTenantStep (ctx) {
    const will = (ctx.client as unknown as TenantFields)._will
    // The will topic is in the client's own space: `$t/` is nobody's (CONNACK 0x90 Topic Name
    // invalid, which MQTT 5 §3.2.2.2 gives for a will topic the server does not accept).
    if (will !== null && will !== undefined && isTenantTopic(will.topic)) throw new StarlingError('STARLING_ERR_WILL_TOPIC_RESERVED')
    const tenant = selectTenant({ serverName: originOf(ctx.client).serverName }, deps)
    enterTenant(ctx.client, tenant)
  }
}
