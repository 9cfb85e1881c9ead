import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; NaN when unreadable. */
export function cpuSeconds (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may contain spaces: fields after the closing parenthesis are fixed
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return (utime + stime) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

/** Resident set size in bytes, from /proc/<pid>/status (VmRSS); NaN when unreadable. */
export function rssBytes (pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return match?.[1] !== undefined ? Number(match[1]) * 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** CPU seconds this (generator) process has used so far. */
export function ownCpuSeconds (): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}
