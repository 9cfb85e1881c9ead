import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { TestContext } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'
import { closeBeforeClusterStops, clusterSeedsOf } from './redis.js'

/** Log lines a test node wrote, parsed, so a test can assert on them. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = []
  override _write (chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>)
    }
    done()
  }

  find (msg: RegExp): Record<string, unknown> | undefined {
    return this.lines.find((line) => msg.test(String(line.msg)))
  }
}

export interface TestNode {
  readonly node: StarlingNode
  readonly logs: LogCapture
  readonly mqttPort: number
  readonly httpPort: number
  readonly url: string
}

/** STARLING_TEST_REDIS=cluster: a `redis.url` naming a test Redis Cluster node connects as a Redis Cluster. */
export function clusterOverrides (overrides: Record<string, unknown>): Record<string, unknown> {
  const url = overrides['redis.url']
  const seeds = typeof url === 'string' && overrides['redis.cluster.nodes'] === undefined ? clusterSeedsOf(url) : undefined
  return seeds !== undefined ? { 'redis.cluster.nodes': [...seeds] } : {}
}

/** Every listener of an in-process test node on loopback, on a free port (0). */
export const LOOPBACK_FREE_PORTS: Readonly<Record<string, unknown>> = Object.freeze({
  'mqtt.host': '127.0.0.1',
  'mqtt.port': 0,
  'ws.port': 0,
  'wss.port': 0,
  'tls.port': 0,
  'http.host': '127.0.0.1',
  'http.port': 0
})

/**
 * An in-process Starling node on loopback with free ports (port 0), closed after the test.
 * `overrides` use config paths: `{ 'limits.maxConnections': 2, acl: [...] }`. `processMetrics`
 * adds prom-client's default process and Node.js series, as `starling serve` has them.
 */
export async function startTestNode (t: TestContext | undefined, overrides: Record<string, unknown> = {}, options: { processMetrics?: boolean } = {}): Promise<TestNode> {
  // Tenancy (the default broker, signing keys) lives in a data directory: a fresh one per node.
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-node-'))
  const config = loadConfig({
    overrides: {
      nodeId: 'test-node',
      ...LOOPBACK_FREE_PORTS,
      drainSeconds: 2,
      'log.level': 'debug',
      dataDir,
      // Cluster-mode nodes (a Redis in `overrides`) need the secret and would make the default
      // broker TOKEN: tests of other areas connect anonymously. Identity tests override both.
      'auth.secretKey': 'test node secret key, at least thirty-two characters',
      'auth.defaultBrokerAuthType': 'NONE',
      ...clusterOverrides(overrides),
      ...overrides
    }
  })
  const logs = new LogCapture()
  const node = await StarlingNode.start(config, {
    logger: createLogger(config.log.level, config.nodeId, logs),
    metrics: createMetrics(config.nodeId, options.processMetrics ?? false)
  })
  t?.after(async () => {
    await node.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  if (typeof overrides['redis.url'] === 'string') closeBeforeClusterStops(overrides['redis.url'], async () => await node.close())
  const mqttPort = node.port('mqtt')
  return { node, logs, mqttPort, httpPort: node.port('http'), url: `mqtt://127.0.0.1:${mqttPort}` }
}

/** The node's 'client connected' log line for `clientId` (debug level: test nodes log at debug). */
export function connectedLine (node: TestNode, clientId: string): Record<string, unknown> | undefined {
  return node.logs.lines.find((l) => l.msg === 'client connected' && l.clientId === clientId)
}
