/** Test shim of k6/metrics: records every sample in `shim.samples`. */
import { shim } from './state.js'

export abstract class Metric {
  constructor (readonly name: string, readonly isTime = false) {}
  add (value: number | boolean, tags: Record<string, string> = {}): void {
    const list = shim.samples.get(this.name) ?? []
    list.push({ value: typeof value === 'boolean' ? (value ? 1 : 0) : value, tags })
    shim.samples.set(this.name, list)
  }
}
export class Counter extends Metric {}
export class Gauge extends Metric {}
export class Rate extends Metric {}
export class Trend extends Metric {}
