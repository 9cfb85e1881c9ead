/**
 * Which of the emitter's fixed set of Redis channels carries a topic, and which channels a topic
 * filter needs. A topic goes to the channel of its route key: its first `levels` topic levels
 * (the whole topic when it has fewer), hashed (FNV-1a over the UTF-16 code units) modulo
 * `channels`. A filter whose first `levels` levels are all literal can only match topics with
 * that route key, so it needs that one channel; a filter with `+` or `#` among them may match
 * topics of any route key and needs every channel. Every pod must use the same `channels` and
 * `levels` (the function is part of the wire layout).
 *
 * Examples with levels 3 (the default): `devices/42/telemetry` → its own channel, so a fleet
 * under one prefix spreads over every channel (and so over every Redis Cluster shard);
 * `acme/site1/dev7/temp` and `acme/site1/dev7/#` → the channel of `acme/site1/dev7`;
 * `devices/+/telemetry`, `#` → all channels. With levels 1: `sensors/+/temp`, `sensors/#`,
 * `sensors` → channel of `sensors` (a whole fleet under one prefix on one channel).
 *
 * `$SYS/...` always routes on `$SYS` alone, whatever `levels`: the pods' own listeners
 * (`$SYS/+/heartbeat`, `$SYS/+/new/clients`, ...) then need one channel, not every channel.
 *
 * A tenant's topics all start with its mount `$t/<broker id>/` (src/tenancy/mount.ts): the route
 * key is the mount's two levels plus the tenant's own first `levels` levels, so tenants (and the
 * topics within one) spread over the channels instead of all landing on the channel of `$t`.
 * One topic still has one channel: per-publisher order holds. Tenants' own `$SYS/...` (their
 * client events, few) share one channel, `$t/$SYS`, so that the pods' takeover listener
 * `$t/+/$SYS/+/new/clients` needs that channel only, not every channel.
 */
import { mountLength, TENANT_PREFIX } from '../tenancy/mount.js'

/** Route key of every tenant's `$SYS/...` (no broker id is `$SYS`: ids are ULIDs). */
const TENANT_SYS_ROUTE = '$t/$SYS'
/** Route key of the pods' `$SYS/...`. */
const SYS_ROUTE = '$SYS'

export interface RouteLayout {
  /** Number of channels, ≥ 1. */
  readonly channels: number
  /** Topic levels that make the route key, ≥ 1. */
  readonly levels: number
}

/** FNV-1a (32 bit) over the string's UTF-16 code units. */
export function routeHash (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** The route key of a topic name: up to (not including) its `levels`-th separator, after a tenant's mount. */
export function routeKey (topic: string, levels: number): string {
  if (topic.startsWith(SYS_ROUTE) && (topic.length === SYS_ROUTE.length || topic[SYS_ROUTE.length] === '/')) return SYS_ROUTE
  if (topic.startsWith(TENANT_PREFIX)) {
    const own = mountLength(topic)
    if (own > 0 && (topic.startsWith('$SYS/', own) || topic.length === own + 4 && topic.endsWith('$SYS'))) return TENANT_SYS_ROUTE
    levels += 2
  }
  let end = -1
  for (let i = 0; i < levels; i++) {
    end = topic.indexOf('/', end + 1)
    if (end === -1) return topic
  }
  return topic.slice(0, end)
}

/** Channel index of a topic name. */
export function topicSlot (topic: string, layout: RouteLayout): number {
  return routeHash(routeKey(topic, layout.levels)) % layout.channels
}

/**
 * Channel index a topic filter needs, or `'all'` when it has a wildcard within its route key.
 * (`a/#` with levels 1 → the channel of `a`: `#` also matches the parent `a` [MQTT-4.7.1-2],
 * whose route key is `a` too.)
 */
export function filterSlot (filter: string, layout: RouteLayout): number | 'all' {
  const key = routeKey(filter, layout.levels)
  const levels = key.split('/')
  for (const level of levels) {
    if (level === '+' || level === '#') return 'all'
  }
  return routeHash(key) % layout.channels
}
