import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createServer, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import type { Engine } from '../../src/broker/engine.js'
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet'
import { createBroker } from '../../src/broker/create.js'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawConnect, type RawClient } from '../helpers/raw-client.js'

// limits.maxConnections counts connections whose CONNECT was admitted but that are not yet
// registered, so CONNECTs arriving together cannot pass the limit between them. The window
// between admission and registration is widest with a persistence that answers after a delay
// (a network store such as Redis); the second test builds the broker with such a persistence.

/** aedes' default in-memory persistence factory (CommonJS). */
const memory = createRequire(import.meta.url)('aedes-persistence') as () => object

const DELAYED = new Set(['delWill', 'putWill', 'subscriptionsByClient', 'cleanSubscriptions'])

/** The in-memory persistence, answering the connect-time calls 30 ms later. */
function slowPersistence (): object {
  const inner = memory() as unknown as Record<string, unknown>
  return new Proxy(inner, {
    get (target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      const fn = value as (...args: unknown[]) => unknown
      if (typeof prop !== 'string' || !DELAYED.has(prop)) return fn.bind(target)
      return async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, 30))
        return fn.apply(target, args)
      }
    }
  })
}

async function brokerWithSlowPersistence (t: TestContext, maxConnections: number): Promise<number> {
  const config = loadConfig({ overrides: { nodeId: 'slow', 'mqtt.port': 0, 'http.port': 0, 'limits.maxConnections': maxConnections, 'log.level': 'warn' } })
  const sink = new Writable({ write: (_chunk, _enc, done) => done() })
  const broker: Engine = await createBroker({
    config,
    logger: createLogger('warn', 'slow', sink),
    metrics: createMetrics('slow', false),
    state: { ready: true, draining: false },
    persistence: slowPersistence() as never
  })
  const server = createServer((socket) => broker.handle(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

async function burst (t: TestContext, port: number, count: number): Promise<{ clients: RawClient[], codes: Array<number | undefined> }> {
  const clients = await Promise.all(Array.from({ length: count }, () => rawConnect(t, port, 5)))
  // Every CONNECT goes out in the same tick, once all sockets are open.
  clients.forEach((c, i) => c.socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `burst-${i}` } as Packet, { protocolVersion: 5 })))
  await waitFor(() => clients.every((c) => c.received.some((p) => p.cmd === 'connack')), 10000, 'a CONNACK on every connection')
  return { clients, codes: clients.map((c) => (c.received.find((p) => p.cmd === 'connack') as IConnackPacket).reasonCode) }
}

function assertFive (codes: Array<number | undefined>): void {
  assert.equal(codes.filter((c) => c === 0).length, 5, codes.join(','))
  assert.equal(codes.filter((c) => c === 0x97).length, 15, codes.join(','))
}

test('limits.maxConnections 5: 20 simultaneous raw CONNECTs → exactly 5 accepted, 15 refused with 0x97', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.maxConnections': 5 })
  const { clients, codes } = await burst(t, mqttPort, 20)
  assertFive(codes)

  // Closing an accepted connection frees its slot; the refused ones never held one.
  const accepted = clients.find((_, i) => codes[i] === 0) as RawClient
  accepted.destroy()
  await waitFor(() => accepted.closed, 3000, 'socket closed')
  // The broker notices the close shortly after the client's socket is gone: bounded retries.
  let late: IConnackPacket | undefined
  for (let i = 0; i < 20 && late?.reasonCode !== 0; i++) {
    const c = await rawConnect(t, mqttPort, 5)
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `late-${i}` } as Packet)
    late = await c.next<IConnackPacket>('connack')
    if (late.reasonCode !== 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  assert.equal(late?.reasonCode, 0)
})

test('limits.maxConnections 5 with a persistence that answers after a delay: 20 simultaneous CONNECTs → exactly 5 accepted', async (t) => {
  const port = await brokerWithSlowPersistence(t, 5)
  const { codes } = await burst(t, port, 20)
  assertFive(codes)
})
