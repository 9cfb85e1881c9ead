const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }

/** `3600`, `90s`, `30m`, `48h`, `7d`, `2w` → seconds; undefined when it is none of these or not positive. */
export function parseDurationSeconds (text: string): number | undefined {
  const match = /^(\d{1,9})([smhdw]?)$/.exec(text.trim())
  if (match === null) return undefined
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] === '' ? 's' : match[2] as string] ?? 1)
  return seconds > 0 ? seconds : undefined
}
