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

export const TENANT_PREFIX = '$t/'

/** The mount of a broker's topic space. Broker ids are ULIDs: no `/`, `+`, `#`. */
export function mountFor (brokerId: string): string {
  if (brokerId === '' || /[/+#\u0000]/.test(brokerId)) throw new TypeError('a broker id has no "/", "+", "#" or NUL')
  return `${TENANT_PREFIX}${brokerId}/`
}

/** Length of the mount a topic, filter or internal client id starts with (`$t/<id>/`); 0 when none. */
export function mountLength (name: string): number {
  if (name.charCodeAt(0) !== 36 /* $ */ || !name.startsWith(TENANT_PREFIX)) return 0
  const end = name.indexOf('/', TENANT_PREFIX.length)
  return end === -1 ? 0 : end + 1
}

/** Whether a client-given topic or filter is in the reserved `$t/` space (also as `$share/<g>/$t/...`). */
export function isTenantTopic (topic: string): boolean {
  if (topic === '$t' || topic.startsWith(TENANT_PREFIX)) return true
  if (!topic.startsWith('$share/')) return false
  const slash = topic.indexOf('/', '$share/'.length)
  if (slash === -1) return false
  const inner = topic.slice(slash + 1)
  return inner === '$t' || inner.startsWith(TENANT_PREFIX)
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
 * [MQTT-4.7.2-1] inside a mount: is `topic` kept from `filter` because the tenant's own first
 * level starts with `$` and the tenant's filter with a wildcard? Outside a mount: the plain rule.
 * Only called for topics starting with `$`.
 */
export function dollarBlocked (filter: string, topic: string): boolean {
  const m = mountLength(topic)
  const startsWild = (s: string, at: number): boolean => s.charCodeAt(at) === 35 || s.charCodeAt(at) === 43
  if (startsWild(filter, 0)) return true
  return m !== 0 && topic.charCodeAt(m) === 36 && mountLength(filter) === m && startsWild(filter, m)
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
