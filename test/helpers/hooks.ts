import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'
import type { Identity } from '../../src/tenancy/identity.js'
import type { BrokerRecord } from '../../src/tenancy/types.js'
import { LogCapture, LOOPBACK_FREE_PORTS } from './node.js'
import { TEST_SECRET, tempDataDir } from './identity.js'

/**
 * A hook endpoint written the way Cloudflare's guide writes an on-publish Worker: a
 * `fetch(request)` handler that checks the broker's signature with WebCrypto (Ed25519 over the
 * X-Signature-Timestamp header followed by the body, the broker's hex public key imported raw)
 * and answers 200 with the messages to deliver. Served by node:http on 127.0.0.1, each request
 * turned into a WHATWG Request and the Response written back, as the Workers runtime does.
 */

/** Cloudflare's PubSubMessage. */
export interface PubSubMessage {
  readonly mid?: number
  readonly broker: string
  readonly namespace: string
  readonly topic: string
  readonly clientId: string
  readonly jti?: string
  readonly receivedAt: number
  readonly contentType: string
  readonly payloadFormatIndicator: number
  payload: string
  readonly payloadEncoding?: string
}

/** As the guide decodes its hex key and signature: raw bytes in an ArrayBuffer. */
function hexToBytes (hex: string): ArrayBuffer {
  return new Uint8Array((hex.match(/[0-9a-f]{2}/gi) ?? []).map((s) => parseInt(s, 16))).buffer
}

/** Cloudflare's isValidBrokerRequest, with 'Ed25519' (WebCrypto's name; the guide's older 'NODE-ED25519'). */
export async function isValidBrokerRequest (req: Request, brokerPublicKey: string): Promise<boolean> {
  if (req.method !== 'POST') return false
  const signature = req.headers.get('X-Signature-Ed25519')
  const timestamp = req.headers.get('X-Signature-Timestamp')
  if (signature === null || timestamp === null) return false
  const body = await req.clone().text()
  const publicKey = await crypto.subtle.importKey('raw', hexToBytes(brokerPublicKey), { name: 'Ed25519' }, false, ['verify'])
  return await crypto.subtle.verify('Ed25519', publicKey, hexToBytes(signature), new TextEncoder().encode(timestamp + body))
}

export type PubSubHandler = (messages: PubSubMessage[], req: Request) => Promise<PubSubMessage[] | Response> | PubSubMessage[] | Response

export interface Worker {
  readonly url: string
  /** Every batch that passed the signature check, in arrival order. */
  readonly batches: PubSubMessage[][]
  /** Requests refused for a bad signature. */
  invalid: number
  /** Requests received (valid or not). */
  requests: number
  /** Replaces the pubsub handler. */
  handle: PubSubHandler
  /** Largest number of requests in progress at once. */
  maxInFlight: number
  /** TCP connections the server accepted (kept-alive connections are reused). */
  connections: number
}

/** The guide's Worker, its pubsub function being `handler` (default: pass-through). */
export async function startWorker (t: TestContext, publicKey: () => string, handler: PubSubHandler = (m) => m): Promise<Worker> {
  let inFlight = 0
  const worker: Worker = { url: '', batches: [], invalid: 0, requests: 0, handle: handler, maxInFlight: 0, connections: 0 }
  const fetchHandler = async (req: Request): Promise<Response> => {
    if (await isValidBrokerRequest(req, publicKey())) {
      const incoming: PubSubMessage[] = await req.json() as PubSubMessage[]
      worker.batches.push(structuredClone(incoming))
      const outgoing = await worker.handle(incoming, req)
      if (outgoing instanceof Response) return outgoing
      return new Response(JSON.stringify(outgoing), { status: 200 })
    }
    worker.invalid++
    return new Response('not a valid Broker request', { status: 403 })
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    worker.requests++
    inFlight++
    worker.maxInFlight = Math.max(worker.maxInFlight, inFlight)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const headers = new Headers()
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value)
      const request = new Request(`http://127.0.0.1${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}) })
      fetchHandler(request).then(async (response) => {
        const body = Buffer.from(await response.arrayBuffer())
        res.writeHead(response.status, Object.fromEntries(response.headers))
        res.end(body)
      }, (err: unknown) => {
        res.writeHead(500)
        res.end(String(err))
      }).finally(() => { inFlight-- })
    })
  })
  server.on('connection', () => { worker.connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return Object.assign(worker, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` })
}

export interface HookNode {
  readonly node: StarlingNode
  readonly identity: Identity
  readonly url: string
  readonly httpPort: number
  /** The default broker as the store has it now (its hex `publicKey`). */
  broker (): BrokerRecord
}

/**
 * An embedded node (file tenancy store in a temp dataDir) whose default broker has the
 * on-publish hook `onPublish`; `overrides` are config paths (`hooks.breakerOpenMs`...).
 */
export async function startHookNode (t: TestContext, onPublish: Record<string, unknown> | undefined, overrides: Record<string, unknown> = {}): Promise<HookNode> {
  const config = loadConfig({
    overrides: {
      nodeId: 'hook-node',
      ...LOOPBACK_FREE_PORTS,
      drainSeconds: 2,
      'log.level': 'warn',
      dataDir: tempDataDir(t),
      'auth.secretKey': TEST_SECRET,
      ...overrides
    }
  })
  const logger = createLogger(config.log.level, config.nodeId, new LogCapture())
  const node = await StarlingNode.start(config, { logger, metrics: createMetrics(config.nodeId, false) })
  t.after(() => node.close())
  const identity = node.identity
  const tenancy = identity.tenancy
  // Applied live, as an operator's update through the API is.
  if (onPublish !== undefined) await tenancy.updateBroker('default', 'default', { onPublish: onPublish as { url: string } })
  return {
    node,
    identity,
    url: `mqtt://127.0.0.1:${node.port('mqtt')}`,
    httpPort: node.port('http'),
    broker: () => tenancy.findBroker('default', 'default') as BrokerRecord
  }
}
