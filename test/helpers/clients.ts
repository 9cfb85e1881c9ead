import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient, type IPublishPacket } from 'mqtt'
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
  t?.after(() => stopClient(client))
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return client
}

/**
 * Force-ends a client for test cleanup. mqtt.js never calls the end() callback of a client the
 * server already disconnected (e.g. DISCONNECT 0x8E), so this also gives up after a second.
 */
export function stopClient (client: MqttClient): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => { client.stream?.destroy(); resolve() }, 1000)
    client.end(true, {}, () => { clearTimeout(timer); resolve() })
  })
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

/**
 * Like connectClient, but also returns the CONNACK (session present, v5 properties) and the
 * messages received from the first packet on (a resumed session's queued messages may arrive
 * before mqtt.js reports 'connect').
 */
export async function connectWithAck (t: TestContext | undefined, url: string, options: IClientOptions = {}): Promise<{ client: MqttClient, connack: IConnackPacket, got: Received[] }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  t?.after(() => stopClient(client))
  const got = collect(client)
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
  return { client, connack, got }
}

/** Ends a client gracefully (normal DISCONNECT) and waits for the socket to close. */
export function endClient (client: MqttClient, options: { reasonCode?: number, properties?: Record<string, unknown> } = {}): Promise<void> {
  return new Promise<void>((resolve) => client.end(false, options as never, () => resolve()))
}

/** Connects expecting a refusal; resolves with the CONNACK reason code (v5) / return code (3.1.1). */
export async function refusedCode (url: string, options: IClientOptions = {}): Promise<number | undefined> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options })
  try {
    return await new Promise<number | undefined>((resolve, reject) => {
      client.once('connect', () => reject(new Error('connected, expected a refusal')))
      client.once('error', (err: Error & { code?: unknown }) => resolve(typeof err.code === 'number' ? err.code : undefined))
      client.once('close', () => resolve(undefined))
    })
  } finally {
    client.end(true)
  }
}

/** Options of an MQTT 5 session that outlives its connection by `seconds`. */
export function expiringSession (clientId: string, seconds: number): IClientOptions {
  return { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: seconds } }
}

/** Options of a persistent session: Clean Session 0 (3.1.1), or Session Expiry 60 s (5). */
export function persistentSession (protocolVersion: 4 | 5, clientId: string): IClientOptions {
  return { protocolVersion, clientId, clean: false, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) }
}

/**
 * Reconnects a session and collects what it receives from the first packet on: a resumed
 * session's queued messages may arrive before mqtt.js reports 'connect'.
 */
export function resumeSession (t: TestContext, url: string, options: IClientOptions): Received[] {
  const got: Received[] = []
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...options })
  t.after(() => stopClient(client))
  client.on('message', (topic, payload, packet) => got.push({ topic, payload, packet }))
  return got
}
