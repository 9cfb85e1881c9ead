import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt'
import type { TestContext } from 'node:test'

export type { MqttClient }

export interface Received {
  readonly topic: string
  readonly payload: Buffer
  readonly packet: IPublishPacket
}

/** A connected mqtt.js client (no reconnects), ended after the test. Rejects on CONNACK failure. */
export async function connectClient (t: TestContext | undefined, url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t?.after(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())))
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

/** Collects every message the client receives from now on. */
export function collect (client: MqttClient): Received[] {
  const out: Received[] = []
  client.on('message', (topic, payload, packet) => out.push({ topic, payload, packet }))
  return out
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor (predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Waits `ms`; used only to prove that something does NOT arrive. */
export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
