import { Redis } from 'ioredis'

/**
 * Redis-side accounting of a scenario: `INFO commandstats` (calls per command) and `INFO cpu`
 * (used_cpu_sys + used_cpu_user of the server) read before and after, diffed. The INFO calls
 * themselves are counted by Redis too; they are removed from the diff.
 */
export interface RedisSnapshot {
  readonly calls: ReadonlyMap<string, number>
  readonly cpuSeconds: number
}

export interface RedisDelta {
  /** Calls per command during the scenario, most frequent first. */
  readonly calls: Array<[string, number]>
  readonly total: number
  readonly cpuSeconds: number
}

export class RedisStats {
  readonly #redis: Redis

  constructor (port: number) {
    this.#redis = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true })
  }

  async snapshot (): Promise<RedisSnapshot> {
    const stats = await this.#redis.info('commandstats')
    const cpu = await this.#redis.info('cpu')
    const calls = new Map<string, number>()
    for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (match[1] !== undefined && match[2] !== undefined) calls.set(match[1], Number(match[2]))
    }
    const num = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 'NaN')
    return { calls, cpuSeconds: num('used_cpu_sys') + num('used_cpu_user') }
  }

  static diff (before: RedisSnapshot, after: RedisSnapshot): RedisDelta {
    const calls: Array<[string, number]> = []
    for (const [name, n] of after.calls) {
      // our own two INFO calls per snapshot
      const d = n - (before.calls.get(name) ?? 0) - (name === 'info' ? 2 : 0)
      if (d > 0) calls.push([name, d])
    }
    calls.sort((a, b) => b[1] - a[1])
    return { calls, total: calls.reduce((n, [, c]) => n + c, 0), cpuSeconds: after.cpuSeconds - before.cpuSeconds }
  }

  /** Arbitrary command (e.g. DBSIZE, HLEN) for checks. */
  async call (command: string, ...args: string[]): Promise<unknown> {
    return await this.#redis.call(command, ...args)
  }

  async close (): Promise<void> {
    this.#redis.disconnect()
  }
}
