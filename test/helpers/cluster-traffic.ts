import type { TestContext } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { topicSlot } from '../../src/cluster/emitter-route.js'
import { emitterShardChannel } from '../../src/cluster/keys.js'
import { keySlot } from '../../src/cluster/slots.js'
import { stopClient } from './clients.js'

/**
 * QoS 1 traffic into persistent sessions while a Redis Cluster changes under the pods (slot
 * migration, failover): what was acknowledged to the publisher, and what each session received
 * (live, or from its queue on resuming), by message number.
 */

/** Default bus layout (config: cluster.messageChannels 64, messageRouteLevels 3). */
const LAYOUT = { channels: 64, levels: 3 }

/** Slot of a persistent session's queue keys (`oq:{<client id>}`, keys.ts). */
export function queueSlot (clientId: string): number {
  return keySlot(`{${encodeURIComponent(clientId)}}`)
}

/** Slot of the sharded bus channel a topic is published on. */
export function busSlot (topic: string): number {
  return keySlot(emitterShardChannel(topicSlot(topic, LAYOUT), LAYOUT.channels))
}

/** The first `count` of `candidate(0..)` for which `wanted` holds. */
export function pick (count: number, candidate: (n: number) => string, wanted: (value: string) => boolean): string[] {
  const out: string[] = []
  for (let n = 0; out.length < count && n < 100000; n++) if (wanted(candidate(n))) out.push(candidate(n))
  return out
}

export interface Session {
  readonly id: string
  client: MqttClient | undefined
  readonly got: Set<number>
}

const options = (id: string): mqtt.IClientOptions => ({
  protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 600 }, reconnectPeriod: 300, connectTimeout: 5000
})

/** Connects a persistent session (reconnecting by itself) that records every message number it receives. */
export async function openSession (t: TestContext, url: string, session: Session, filter?: string): Promise<void> {
  const client = mqtt.connect(url, options(session.id))
  session.client = client
  t.after(() => stopClient(client))
  client.on('message', (_topic, payload) => session.got.add(Number(payload.toString())))
  client.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    setTimeout(() => reject(new Error(`${session.id} did not connect`)), 10000)
  })
  if (filter !== undefined) await client.subscribeAsync({ [filter]: { qos: 1 } })
}

export async function closeSession (session: Session): Promise<void> {
  if (session.client !== undefined) await session.client.endAsync()
  session.client = undefined
}

export interface Publishing {
  /** Message numbers whose PUBACK said success, in order. */
  readonly acked: number[]
  /** Message numbers whose PUBLISH failed (error PUBACK or connection lost). */
  readonly failed: number[]
  /** When each message number was acknowledged (ms since epoch). */
  readonly ackedAt: Map<number, number>
  /** Stops publishing; resolves when every outstanding PUBLISH has its answer. */
  stop (): Promise<void>
}

/** Publishes QoS 1 messages numbered 0, 1, ... on `topics` round robin, `window` at a time, until stopped. */
export function publishUntilStopped (client: MqttClient, topics: readonly string[], window: number, pauseMs = 0, max = 200000): Publishing {
  const acked: number[] = []
  const failed: number[] = []
  const ackedAt = new Map<number, number>()
  let next = 0
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped && next < max) {
      const n = next++
      try {
        await client.publishAsync(topics[n % topics.length]!, String(n), { qos: 1 })
        acked.push(n)
        ackedAt.set(n, Date.now())
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs))
      } catch {
        failed.push(n)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }
  const workers = Promise.all(Array.from({ length: window }, worker))
  return {
    acked,
    failed,
    ackedAt,
    async stop () {
      stopped = true
      await workers
    }
  }
}

/** Acknowledged message numbers a session lacks. */
export function missing (acked: readonly number[], session: Session): number[] {
  return acked.filter((n) => !session.got.has(n))
}
