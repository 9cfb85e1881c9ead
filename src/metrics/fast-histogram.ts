import type { Metric, Registry } from 'prom-client'

/**
 * Prometheus series for the per-message and per-Redis-command hot paths, registered in a
 * prom-client Registry like any metric. prom-client's own Histogram allocates and hashes a
 * label object on every observe(); here a series is looked up once (`series(...)`) and an
 * observation is a bucket search and three additions, with no allocation.
 */

type Labels = Readonly<Record<string, string>>

interface Sample { labels: Record<string, string>, value: number, metricName?: string }

interface Exported {
  name: string
  help: string
  type: 'histogram' | 'gauge'
  aggregator: 'sum'
  values: Sample[]
}

/** Registers an object with prom-client's metric interface (get/reset) in `registry`. */
function register (registry: Registry, metric: { name: string }): void {
  registry.registerMetric(metric as unknown as Metric)
}

export class HistogramSeries {
  readonly labels: Labels
  readonly #bounds: readonly number[]
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor (bounds: readonly number[], labels: Labels) {
    this.#bounds = bounds
    this.labels = labels
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe (value: number): void {
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
    this.count++
  }

  reset (): void {
    this.counts.fill(0)
    this.sum = 0
    this.count = 0
  }
}

export interface FastHistogramOptions {
  readonly name: string
  readonly help: string
  /** Upper bounds in ascending order (seconds for durations); +Inf is implicit. */
  readonly buckets: readonly number[]
  readonly registry: Registry
}

export class FastHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #bounds: readonly number[]
  readonly #les: readonly string[]
  readonly #series = new Map<string, HistogramSeries>()

  constructor (options: FastHistogramOptions) {
    this.name = options.name
    this.help = options.help
    this.#bounds = [...options.buckets]
    this.#les = this.#bounds.map((b) => String(b))
    register(options.registry, this)
  }

  /** The series for one label set, created on first use. Keep the result: do not call per observation. */
  series (labels: Labels = {}): HistogramSeries {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))
    let series = this.#series.get(key)
    if (series === undefined) {
      series = new HistogramSeries(this.#bounds, labels)
      this.#series.set(key, series)
    }
    return series
  }

  async get (): Promise<Exported> {
    const values: Sample[] = []
    const bucket = `${this.name}_bucket`
    for (const series of this.#series.values()) {
      let cumulative = 0
      for (let i = 0; i < this.#les.length; i++) {
        cumulative += series.counts[i] as number
        values.push({ labels: { ...series.labels, le: this.#les[i] as string }, value: cumulative, metricName: bucket })
      }
      values.push({ labels: { ...series.labels, le: '+Inf' }, value: series.count, metricName: bucket })
      values.push({ labels: { ...series.labels }, value: series.sum, metricName: `${this.name}_sum` })
      values.push({ labels: { ...series.labels }, value: series.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {
    for (const series of this.#series.values()) series.reset()
  }
}

/**
 * A gauge read when scraped. `read` returns the value, or undefined when it is not known
 * (the series is then left out of the scrape instead of reporting a misleading 0).
 */
export class CallbackGauge {
  readonly name: string
  readonly help: string
  readonly type = 'gauge'
  readonly aggregator = 'sum'
  readonly #read: () => Promise<number | undefined> | number | undefined

  constructor (options: { name: string, help: string, registry: Registry, read: () => Promise<number | undefined> | number | undefined }) {
    this.name = options.name
    this.help = options.help
    this.#read = options.read
    register(options.registry, this)
  }

  async get (): Promise<Exported> {
    const value = await this.#read()
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: value === undefined ? [] : [{ labels: {}, value }]
    }
  }

  reset (): void {}
}
