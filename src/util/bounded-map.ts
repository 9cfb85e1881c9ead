/**
 * Inserts (or re-inserts) `key` as the newest entry of `map`, then drops the oldest entries
 * while the map holds more than `max`. A Map iterates in insertion order, so the first key is
 * always the oldest: the caches and per-address tables that cap their memory this way need no
 * other bookkeeping. Callers that re-insert on every use get LRU order; callers that insert only
 * on a miss get FIFO order.
 */
export function setNewest<K, V> (map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  while (map.size > max) {
    const oldest = map.keys().next()
    if (oldest.done === true) return
    map.delete(oldest.value)
  }
}
