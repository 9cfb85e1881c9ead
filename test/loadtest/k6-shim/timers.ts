/** Test shim of k6/timers on Node timers; counts live timers in `shim.timers`. */
import { shim } from './state.js'

const live = new Map<number, { handle: NodeJS.Timeout, repeat: boolean }>()
let nextId = 1

function drop (id: number): void {
  const t = live.get(id)
  if (t === undefined) return
  live.delete(id)
  shim.timers--
  if (t.repeat) clearInterval(t.handle)
  else clearTimeout(t.handle)
}

function add (fn: (...args: unknown[]) => void, ms: number, repeat: boolean, args: unknown[]): number {
  const id = nextId++
  const run = (): void => {
    if (!repeat) drop(id)
    fn(...args)
  }
  live.set(id, { handle: repeat ? setInterval(run, ms) : setTimeout(run, ms), repeat })
  shim.timers++
  return id
}

const k6SetTimeout = (fn: (...args: unknown[]) => void, ms: number, ...args: unknown[]): number => add(fn, ms, false, args)
const k6SetInterval = (fn: (...args: unknown[]) => void, ms: number, ...args: unknown[]): number => add(fn, ms, true, args)
export { k6SetTimeout as setTimeout, k6SetInterval as setInterval, drop as clearTimeout, drop as clearInterval }
