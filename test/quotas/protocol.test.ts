import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { MqttClient } from 'mqtt'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'
import type { QuotaEngine } from '../../src/quotas/index.js'
import type { BrokerQuotas } from '../../src/tenancy/types.js'
import { collect, connectClient, refusedCode, sleep, stopClient, waitFor } from '../helpers/clients.js'
import { LogCapture } from '../helpers/node.js'
import { tempDataDir } from '../helpers/identity.js'
import { scrape, value } from '../helpers/metrics.js'

/**
 * Real mqtt.js clients against an embedded node whose every client belongs to the default
 * broker, with that broker's quotas enforced by the embedded (memory) quota engine.
 */

const DEFAULT_BROKER = (quotas: Partial<BrokerQuotas>): Partial<BrokerQuotas> => quotas

/** An embedded node whose default broker (every client's) has these quotas, set through its store. */
async function startQuotaNode (t: TestContext, quotas: Partial<BrokerQuotas>): Promise<{ url: string, httpPort: number, engine: QuotaEngine, brokerId: string }> {
  const config = loadConfig({
    overrides: { nodeId: 'quota-node', 'mqtt.host': '127.0.0.1', 'mqtt.port': 0, 'ws.port': 0, 'wss.port': 0, 'tls.port': 0, 'http.host': '127.0.0.1', 'http.port': 0, dataDir: tempDataDir(t), drainSeconds: 2, 'log.level': 'warn' }
  })
  const metrics = createMetrics(config.nodeId, false)
  const node = await StarlingNode.start(config, {
    logger: createLogger(config.log.level, config.nodeId, new LogCapture()),
    metrics
  })
  t.after(async () => { await node.close() })
  const broker = await node.identity.tenancy.updateBroker('default', 'default', { quotas })
  return { url: `mqtt://127.0.0.1:${node.port('mqtt')}`, httpPort: node.port('http'), engine: node.quotas, brokerId: broker.id }
}

test('maxConnections: CONNACK 0x97 (v5) / 3 (v3.1.1) above the cap; a closed connection frees its slot', async (t) => {
  const { url, httpPort } = await startQuotaNode(t, DEFAULT_BROKER({ maxConnections: 2 }))
  const first = await connectClient(t, url, { protocolVersion: 5, clientId: 'one' })
  await connectClient(t, url, { protocolVersion: 4, clientId: 'two' })
  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'three' }), 0x97)
  assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: 'four' }), 3)
  // The same client id reconnecting replaces its connection: no new slot needed.
  await connectClient(t, url, { protocolVersion: 5, clientId: 'two' })

  const samples = await scrape(httpPort)
  assert.equal(value(samples, 'starling_quota_refusals_total', { namespace: 'default', broker: 'default', quota: 'max_connections' }), 2)
  assert.equal(value(samples, 'starling_connects_refused_total', { reason: 'quota_connections' }), 2)
  assert.equal(value(samples, 'starling_broker_connections', { namespace: 'default', broker: 'default' }), 2)

  await stopClient(first)
  // The slot is back as soon as the socket has closed (retried while the close is on its way).
  let code: number | undefined = 0x97
  for (let i = 0; i < 20 && code === 0x97; i++) {
    try {
      await connectClient(t, url, { protocolVersion: 5, clientId: `again-${i}` })
      code = 0
    } catch (err) {
      code = (err as { code?: number }).code
      await sleep(50)
    }
  }
  assert.equal(code, 0)
})

/** Sends `n` QoS `qos` publishes at once and records each PUBACK / PUBREC reason code. */
async function publishBurst (client: MqttClient, n: number, qos: 1 | 2): Promise<number[]> {
  const codes: number[] = []
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'puback' || packet.cmd === 'pubrec') codes.push((packet as { reasonCode?: number }).reasonCode ?? 0)
  })
  for (let i = 0; i < n; i++) client.publish('rate/t', `m${i}`, { qos }, () => {})
  await waitFor(() => codes.length === n, 5000, `${n} acknowledgements (${qos}): ${codes.join(",")}`)
  return codes
}

test('publishRatePerSecond: PUBACK / PUBREC 0x97 Quota exceeded beyond the rate (v5), QoS 0 and 3.1.1 dropped; refusals counted', async (t) => {
  const { url, httpPort, engine, brokerId } = await startQuotaNode(t, DEFAULT_BROKER({ publishRatePerSecond: 5 }))
  const subscriber = await connectClient(t, url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(subscriber)
  await subscriber.subscribeAsync('rate/#', { qos: 1 })
  const v5 = await connectClient(t, url, { protocolVersion: 5, clientId: 'pub5' })

  const qos1 = await publishBurst(v5, 20, 1)
  const accepted = qos1.filter((c) => c === 0).length
  assert.ok(accepted >= 1 && accepted <= 6, `a burst of 20 at 5/s: ${qos1.join(',')}`)
  assert.equal(qos1.filter((c) => c === 0x97).length, 20 - accepted, `refused with 0x97: ${qos1.join(',')}`)
  await waitFor(() => got.length === accepted, 3000, 'the accepted messages')
  await sleep(200)
  assert.equal(got.length, accepted, 'refused messages are not delivered')

  await sleep(1100)
  const qos2 = await publishBurst(v5, 20, 2)
  assert.ok(qos2.some((c) => c === 0x97), `PUBREC 0x97: ${qos2.join(',')}`)

  // QoS 0 has no acknowledgement: beyond the rate it is dropped.
  await sleep(1100)
  await waitFor(() => got.length === accepted + qos2.filter((c) => c === 0).length, 3000, 'the accepted QoS 2 messages')
  const beforeQos0 = got.length
  for (let i = 0; i < 20; i++) v5.publish('rate/t', `q0-${i}`, { qos: 0 })
  await sleep(300)
  const qos0 = got.length - beforeQos0
  assert.ok(qos0 >= 1 && qos0 < 20, `some QoS 0 dropped: ${qos0}`)

  // MQTT 3.1.1 has no reason code: acknowledged normally, dropped, counted.
  await sleep(1100)
  const v4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'pub4' })
  const before = got.length
  const v4codes = await publishBurst(v4, 20, 1)
  assert.ok(v4codes.every((c) => c === 0), 'every PUBACK is a plain one')
  await sleep(300)
  const delivered = got.length - before
  assert.ok(delivered >= 1 && delivered < 20, `some dropped: ${delivered}`)

  const samples = await scrape(httpPort)
  const refused = value(samples, 'starling_quota_refusals_total', { namespace: 'default', broker: 'default', quota: 'publish_rate' })
  assert.ok(refused >= 20 - accepted + (20 - qos0) + (20 - delivered), `refusals counted: ${refused}`)
  const received = value(samples, 'starling_broker_messages_received_total', { namespace: 'default', broker: 'default' })
  assert.ok(received >= accepted + delivered, `received counted: ${received}`)
  assert.ok(value(samples, 'starling_broker_messages_sent_total', { namespace: 'default', broker: 'default' }) >= got.length)

  const usage = await engine.usage(brokerId, new Date(Date.now() - 60_000))
  assert.equal(usage.connections, 3)
  assert.equal(usage.messagesIn, received)
  assert.ok(usage.messagesOut >= got.length)
})

test('maxRetained: a retained message for a new topic beyond the quota is delivered, not retained', async (t) => {
  const { url } = await startQuotaNode(t, DEFAULT_BROKER({ maxRetained: 1 }))
  const live = await connectClient(t, url, { protocolVersion: 5, clientId: 'live' })
  const liveGot = collect(live)
  await live.subscribeAsync('r/#', { qos: 1 })
  const publisher = await connectClient(t, url, { protocolVersion: 5, clientId: 'pub' })
  await publisher.publishAsync('r/1', 'kept', { qos: 1, retain: true })
  await publisher.publishAsync('r/2', 'not kept', { qos: 1, retain: true })
  await publisher.publishAsync('r/1', 'replaced', { qos: 1, retain: true })
  await waitFor(() => liveGot.length === 3, 3000, 'live deliveries')

  const late = await connectClient(t, url, { protocolVersion: 5, clientId: 'late' })
  const lateGot = collect(late)
  await late.subscribeAsync('r/#', { qos: 1 })
  await sleep(300)
  assert.deepEqual(lateGot.map((m) => `${m.topic}=${m.payload.toString()}`), ['r/1=replaced'])
})
