import type { TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'
import type { Identity } from '../../src/tenancy/identity.js'
import { collect, connectClient, type MqttClient, type Received } from './clients.js'
import { LogCapture, LOOPBACK_FREE_PORTS } from './node.js'
import { tempDataDir, TEST_SECRET } from './identity.js'

export const ADMIN = 'triggers-admin-token-0123456789abcdef'
export const DOMAIN = 'mqtt.example.test'
/** The config rule that lets every client subscribe to the events (tests of who may not use a node without it). */
export const TRIGGER_GRANT = { action: 'subscribe', topic: '$trigger/#', allow: true }

export interface EventNode {
  readonly node: StarlingNode
  readonly identity: Identity
  readonly logs: LogCapture
  readonly url: string
  readonly wsPort: number
  /** The management API with the admin token: JSON in, the envelope's `result` (or the whole body) out. */
  api (method: string, path: string, body?: unknown): Promise<{ status: number, json: any }>
  /** mqtt.js options for a WebSocket connection to broker `<name>.<namespace>` (Host header). */
  ws (namespace: string, name: string, options?: IClientOptions): [string, IClientOptions]
}

/**
 * An in-process node (its identity store in a fresh data directory, or in the given Redis), the
 * management API behind ADMIN, an anonymous default broker, and any overrides.
 */
export async function startEventNode (t: TestContext, overrides: Record<string, unknown> = {}, options: { redisUrl?: string, nodeId?: string } = {}): Promise<EventNode> {
  const config = loadConfig({
    overrides: {
      nodeId: options.nodeId ?? 'events-node',
      ...LOOPBACK_FREE_PORTS,
      'tenancy.domain': DOMAIN,
      'api.adminTokens': [ADMIN],
      'cluster.heartbeatMs': 250,
      'auth.secretKey': TEST_SECRET,
      'auth.defaultBrokerAuthType': 'NONE',
      dataDir: tempDataDir(t),
      drainSeconds: 2,
      'log.level': 'debug',
      ...(options.redisUrl !== undefined ? { 'redis.url': options.redisUrl } : {}),
      ...overrides
    }
  })
  const logs = new LogCapture()
  const node = await StarlingNode.start(config, {
    logger: createLogger(config.log.level, config.nodeId, logs),
    metrics: createMetrics(config.nodeId, false)
  })
  t.after(() => node.close())
  const identity = node.identity
  const httpPort = node.port('http')
  const wsPort = node.port('ws')
  return {
    node,
    identity,
    logs,
    url: `mqtt://127.0.0.1:${node.port('mqtt')}`,
    wsPort,
    async api (method, path, body) {
      const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(5000)
      })
      const text = await res.text()
      const json = text === '' ? undefined : JSON.parse(text)
      return { status: res.status, json: json?.result ?? json }
    },
    ws: (namespace, name, extra = {}) => [`ws://127.0.0.1:${wsPort}/mqtt`, { ...extra, wsOptions: { headers: { Host: `${name}.${namespace}.${DOMAIN}:${wsPort}` } } }]
  }
}

/** A subscriber to `filter` (QoS 1) whose received event payloads are parsed. */
export async function eventWatcher (t: TestContext, url: string, filter: string, options: IClientOptions = {}): Promise<{ client: MqttClient, got: Received[], events: (topic?: string) => Array<Record<string, any>> }> {
  const client = await connectClient(t, url, { protocolVersion: 5, ...options })
  const got = collect(client)
  const granted = await client.subscribeAsync(filter, { qos: 1 })
  if ((granted[0]?.qos ?? 0x80) >= 0x80) throw new Error(`subscription to ${filter} refused`)
  return {
    client,
    got,
    events: (topic) => got.filter((m) => topic === undefined || m.topic === topic).map((m) => JSON.parse(m.payload.toString()) as Record<string, any>)
  }
}
