/**
 * Tenant topic spaces: the names (TypeScript side of aedes' lib/tenant.js, which applies them
 * inside the engine). A tenant's topics, filters, retained messages, wills, shared groups and
 * `$SYS` client events live under its mount `$t/<broker id>/`; its clients' ids are kept as
 * `<mount><client id>` (sessions, takeovers, claims, wills, expiry), and the client never sees
 * either. The default broker has no mount: today's topic layout and stored data stay as they are.
 *
 * Why `$t/`: a topic whose first level starts with `$` is matched by no filter starting with a
 * wildcard [MQTT-4.7.2-1], so no tenant's `#` or `+/...` (mounted or not) reaches another's
 * space; no client may publish or subscribe under `$t/` itself.
 */

import { mountLength, TENANT_PREFIX } from '../broker/topics.js'
import { StarlingError } from '../errors.js'

export { dollarBlocked, isTenantTopic, mountLength, TENANT_PREFIX } from '../broker/topics.js'

/** The mount of a broker's topic space. Broker ids are ULIDs: no `/`, `+`, `#`. */
export function mountFor (brokerId: string): string {
  if (brokerId === '' || /[/+#\u0000]/.test(brokerId)) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['broker id', 'has no "/", "+", "#" or NUL'])
  return `${TENANT_PREFIX}${brokerId}/`
}

/** The internal (tenant-scoped) id of a client id in a mount. */
export function internalClientId (mount: string, clientId: string): string {
  return mount + clientId
}

/** The client's own id from an internal one. */
export function localClientId (internalId: string): string {
  return internalId.slice(mountLength(internalId))
}

/** A topic as the tenant sees it (the mount removed). */
export function unmountTopic (topic: string): string {
  return topic.slice(mountLength(topic))
}

/**
 * A stored will as it is published: in the space of its client's tenant (the stored will keeps
 * the topic the client sent, so authorizePublish judges the client's own topic, as for PUBLISH).
 */
export function mountedWill<T extends { topic: string }> (internalId: string, will: T): T {
  const mount = internalId.slice(0, mountLength(internalId))
  if (mount === '' || will.topic.startsWith(mount)) return will
  return { ...will, topic: mount + will.topic }
}
