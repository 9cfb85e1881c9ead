import { isValidFilter } from '../broker/topics.js'

/** MQTT 5 §4.8.2: a Shared Subscription's Topic Filter starts with this. */
export const SHARE_PREFIX = '$share/'

/** One shared subscription group: `$share/<group>/<filter>`. */
export interface ShareFilter {
  readonly group: string
  readonly filter: string
  /** `<group>/<filter>`: the group's identity (the same group name with another filter is another group). */
  readonly key: string
}

export function isSharedTopic (topic: string): boolean {
  return topic.startsWith(SHARE_PREFIX)
}

/**
 * Splits a `$share/<group>/<filter>` filter; undefined when it is not a valid shared filter:
 * the ShareName is at least one character and has no `/`, `+` or `#` [MQTT-4.8.2-1]
 * [MQTT-4.8.2-2], and is followed by `/` and a non-empty valid Topic Filter [MQTT-4.8.2-2]
 * [MQTT-4.7.1-1].
 */
export function parseShare (topic: string): ShareFilter | undefined {
  if (!isSharedTopic(topic)) return undefined
  const rest = topic.slice(SHARE_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash <= 0) return undefined
  const group = rest.slice(0, slash)
  const filter = rest.slice(slash + 1)
  if (group.includes('+') || group.includes('#')) return undefined
  if (filter.length === 0 || !isValidFilter(filter)) return undefined
  return { group, filter, key: rest }
}

/** The ShareFilter of a group key (`<group>/<filter>`) read back from Redis; undefined if malformed. */
export function shareFromKey (key: string): ShareFilter | undefined {
  return parseShare(SHARE_PREFIX + key)
}
