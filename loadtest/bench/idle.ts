import { connectMany, type BenchClient } from './clients.js'
import { rssBytes } from './procstat.js'

export interface IdleResult {
  readonly connections: number
  readonly rssBeforeMb: number
  readonly rssAfterMb: number
  readonly kbPerConnection: number
}

const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Broker RSS before and after `count` idle MQTT connections (CONNECT + CONNACK, no subscriptions),
 * each read after a short settle. Closes every connection before returning.
 */
export async function measureIdleMemory (port: number, pid: number, count: number, protocolVersion: 4 | 5, label: string): Promise<IdleResult> {
  await sleep(500)
  const before = rssBytes(pid)
  let clients: BenchClient[] = []
  try {
    clients = await connectMany(count, 100, (i) => ({ port, clientId: `${label}-idle-${i}`, protocolVersion, keepalive: 600, timeoutMs: 20_000 }))
    await sleep(1000)
    const after = rssBytes(pid)
    return {
      connections: count,
      rssBeforeMb: before / 2 ** 20,
      rssAfterMb: after / 2 ** 20,
      kbPerConnection: (after - before) / 1024 / count
    }
  } finally {
    await Promise.all(clients.map(async (c) => await c.close()))
  }
}
