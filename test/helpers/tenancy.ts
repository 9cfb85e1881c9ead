import type { TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'
import type { FindBroker } from '../../src/tenancy/select.js'
import { makeTestPki, type TestPki } from './certs.js'
import { LogCapture, clusterOverrides } from './node.js'
import { closeBeforeClusterStops } from './redis.js'
import { TEST_SECRET, tempDataDir } from './identity.js'
import { isStarlingError } from '../../src/errors.js'

export const DOMAIN = 'mqtt.example.test'

export interface BrokerEntry { readonly namespace: string, readonly name: string, readonly id: string }

/** The broker lookup of a plain list (what TenancyStore.findBroker answers from its cache). */
export function brokersOf (list: readonly BrokerEntry[]): FindBroker {
  return (namespace, name) => list.find((b) => b.namespace === namespace && b.name === name)
}

export const ALPHA: BrokerEntry = { namespace: 'acme', name: 'alpha', id: '01HALPHA00000000000000000A' }
export const BETA: BrokerEntry = { namespace: 'acme', name: 'beta', id: '01HBETA000000000000000000B' }
export const BROKERS = [ALPHA, BETA]

export function hostOf (broker: BrokerEntry): string {
  return `${broker.name}.${broker.namespace}.${DOMAIN}`
}

export interface TenancyNode {
  readonly node: StarlingNode
  /** The id the store gave a broker (its mount is `$t/<id>/`). */
  idOf (broker: BrokerEntry): string
  readonly logs: LogCapture
  readonly pki: TestPki
  readonly mqttUrl: string
  /** Options connecting over WebSocket to `broker` (Host header), or to the default broker. */
  ws (broker?: BrokerEntry, options?: IClientOptions): [string, IClientOptions]
  /** Options connecting over TLS with SNI `broker`'s endpoint name. */
  tls (broker?: BrokerEntry, options?: IClientOptions): [string, IClientOptions]
}

/** The tenancy tests watch `$SYS` and `$trigger`, which need a grant (README "Access control"). */
const SERVER_TOPIC_GRANTS = [{ action: 'subscribe', topic: '$SYS/#', allow: true }, { action: 'subscribe', topic: '$trigger/#', allow: true }]


/** Creates the anonymous (NONE) brokers in the node's store, unless another pod of the test did. */
async function ensureBrokers (node: StarlingNode, brokers: readonly BrokerEntry[]): Promise<void> {
  const exists = (err: unknown): void => { if (!isStarlingError(err, 'STARLING_ERR_TENANCY_EXISTS')) throw err }
  for (const broker of brokers) {
    await node.identity.tenancy.createNamespace({ name: broker.namespace }).catch(exists)
    await node.identity.tenancy.createBroker(broker.namespace, { name: broker.name, authType: 'NONE' }).catch(exists)
  }
  // Another pod's creation reaches this pod's cache within a second.
  for (let i = 0; i < 100 && brokers.some((b) => node.identity.tenancy.findBroker(b.namespace, b.name) === undefined); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** An in-process node with TCP, TLS and WS listeners on loopback and the given brokers (created in its store). */
export async function startTenancyNode (t: TestContext, options: { nodeId?: string, redisUrl?: string, pki?: TestPki, brokers?: readonly BrokerEntry[], acl?: readonly object[] } = {}): Promise<TenancyNode> {
  const pki = options.pki ?? makeTestPki(t)
  const config = loadConfig({
    overrides: {
      nodeId: options.nodeId ?? 'tenancy-node',
      'mqtt.host': '127.0.0.1',
      'mqtt.port': 0,
      'ws.port': 0,
      'wss.port': 0,
      'tls.port': 0,
      'tls.certFile': pki.certFile,
      'tls.keyFile': pki.keyFile,
      'http.host': '127.0.0.1',
      'http.port': 0,
      'tenancy.domain': DOMAIN,
      'cluster.heartbeatMs': 500,
      drainSeconds: 2,
      'log.level': 'debug',
      dataDir: tempDataDir(t),
      'auth.secretKey': TEST_SECRET,
      'auth.defaultBrokerAuthType': 'NONE',
      acl: [...(options.acl ?? []), ...SERVER_TOPIC_GRANTS],
      ...(options.redisUrl !== undefined ? { 'redis.url': options.redisUrl, ...clusterOverrides({ 'redis.url': options.redisUrl }) } : {})
    }
  })
  const logs = new LogCapture()
  const node = await StarlingNode.start(config, {
    logger: createLogger(config.log.level, config.nodeId, logs),
    metrics: createMetrics(config.nodeId, false)
  })
  t.after(() => node.close())
  if (options.redisUrl !== undefined) closeBeforeClusterStops(options.redisUrl, async () => await node.close())
  await ensureBrokers(node, options.brokers ?? BROKERS)
  const wsUrl = `ws://127.0.0.1:${node.port('ws')}/mqtt`
  const tlsUrl = `mqtts://127.0.0.1:${node.port('mqtts')}`
  return {
    node,
    idOf: (broker) => {
      const found = node.identity.tenancy.findBroker(broker.namespace, broker.name)
      if (found === undefined) throw new Error(`no broker ${broker.name}.${broker.namespace}`)
      return found.id
    },
    logs,
    pki,
    mqttUrl: `mqtt://127.0.0.1:${node.port('mqtt')}`,
    ws: (broker, extra = {}) => [wsUrl, broker === undefined ? extra : { ...extra, wsOptions: { headers: { Host: `${hostOf(broker)}:${node.port('ws')}` } } }],
    tls: (broker, extra = {}) => [tlsUrl, { ca: pki.ca, checkServerIdentity: () => undefined, ...(broker !== undefined ? { servername: hostOf(broker) } : {}), ...extra }]
  }
}
