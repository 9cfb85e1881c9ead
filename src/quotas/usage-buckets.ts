/**
 * Usage counters per broker are kept per minute for the last MINUTE_RETENTION_MS and per hour
 * for USAGE_RETENTION_MS (7 days): an active broker holds at most 360 minute and 169 hour
 * buckets, each a small hash (messages and payload bytes in and out), whatever its traffic.
 * `usage(since)` sums minute buckets where they are still kept and hour buckets before that, so
 * the counted period starts at `since` rounded down to its minute (within the last 6 hours) or
 * to its hour (older), and never before 7 days ago. Pure arithmetic: no clock, no store.
 */

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000
/** Minute buckets are kept this long (6 hours). */
export const MINUTE_RETENTION_MS = 6 * HOUR_MS
/** Hour buckets are kept this long (7 days); `since` earlier than that is counted from 7 days ago. */
export const USAGE_RETENTION_MS = 7 * 24 * HOUR_MS

/** The usage counters of one bucket (or a sum of them). */
export interface UsageCounts {
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

export function emptyCounts (): UsageCounts {
  return { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 }
}

export function addCounts (into: UsageCounts, more: Readonly<UsageCounts>): UsageCounts {
  into.messagesIn += more.messagesIn
  into.messagesOut += more.messagesOut
  into.bytesIn += more.bytesIn
  into.bytesOut += more.bytesOut
  return into
}

export function isEmpty (counts: Readonly<UsageCounts>): boolean {
  return counts.messagesIn === 0 && counts.messagesOut === 0 && counts.bytesIn === 0 && counts.bytesOut === 0
}

export function minuteOf (ms: number): number {
  return Math.floor(ms / MINUTE_MS)
}

export function hourOf (ms: number): number {
  return Math.floor(ms / HOUR_MS)
}

/** Which buckets to sum for `[since, now]`, and the start they actually count from (ms). */
export interface UsagePlan {
  readonly from: number
  /** Hours since the epoch, oldest first. */
  readonly hours: readonly number[]
  /** Minutes since the epoch, oldest first. */
  readonly minutes: readonly number[]
}

/**
 * The buckets covering `since` (ms; undefined: as far back as kept) to `now`: whole hours before
 * the first hour boundary from which every minute bucket is still kept, minutes after it.
 */
export function planUsage (since: number | undefined, now: number): UsagePlan {
  const oldest = now - USAGE_RETENTION_MS
  const start = Math.max(since ?? oldest, oldest)
  // Minute buckets exist for every minute from here on (rounded up to an hour boundary).
  const minutesFrom = Math.ceil((now - MINUTE_RETENTION_MS) / HOUR_MS) * HOUR_MS
  const hours: number[] = []
  const minutes: number[] = []
  let from: number
  if (start >= minutesFrom) {
    from = minuteOf(start) * MINUTE_MS
  } else {
    from = hourOf(start) * HOUR_MS
    for (let h = hourOf(start); h < minutesFrom / HOUR_MS; h++) hours.push(h)
  }
  for (let m = minuteOf(Math.max(start, minutesFrom)); m <= minuteOf(now); m++) minutes.push(m)
  return { from, hours, minutes }
}
