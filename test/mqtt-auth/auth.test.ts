import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { Packet } from 'mqtt-packet'
import { decodeAuthMessage } from '../../src/mqtt-auth/message.js'
import { rawConnect, type RawClient } from '../helpers/raw-client.js'
import { scrape, value } from '../helpers/metrics.js'
import { startRedis } from '../helpers/redis.js'
import { startEventNode, type EventNode } from '../helpers/triggers.js'
import { collect, connectClient, endClient, refusedCode, waitFor } from '../helpers/clients.js'

// Auth over MQTT (ClearBlade's flow, issue 14 §3) with a raw-socket client: CONNECT with username =
// broker id and client id `<device>:<key>`, SUBSCRIBE `auth`, one binary message (2-byte length +
// token, + device name, + endpoint URL), then the server ends the connection; the device then
// connects to the main listener with that token (checked on CONNECT).

const AUTH = { 'mqttAuth.enabled': true, 'mqttAuth.host': '127.0.0.1', 'mqttAuth.port': 0, 'mqttAuth.failureDelayMaxMs': 2000 }

interface Fetched { connack: Packet, message?: Buffer, closed: boolean, received: Packet[] }

/** One auth-over-MQTT exchange; stops after the CONNACK when it refuses. */
async function fetchToken (t: TestContext, port: number, username: string, clientId: string, protocolVersion: 4 | 5 = 4): Promise<Fetched> {
  const client: RawClient = await rawConnect(t, port, protocolVersion)
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, keepalive: 30, clientId, username } as Packet)
  const connack = await client.next('connack')
  const code = (connack as { reasonCode?: number, returnCode?: number }).reasonCode ?? (connack as { returnCode?: number }).returnCode
  if (code !== 0) {
    await client.waitClosed()
    return { connack, closed: client.closed, received: client.received }
  }
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'auth', qos: 0 }] } as Packet)
  const publish = await client.next<Packet & { topic: string, payload: Buffer }>('publish')
  await client.waitClosed()
  return { connack, message: Buffer.from(publish.payload), closed: client.closed, received: client.received }
}

async function brokerWithDevice (n: EventNode, ns: string, name: string, device: string): Promise<{ brokerId: string, key: string }> {
  if ((await n.api('GET', `/v1/namespaces/${ns}`)).status !== 200) assert.equal((await n.api('POST', '/v1/namespaces', { name: ns })).status, 200)
  const broker = await n.api('POST', `/v1/namespaces/${ns}/brokers`, { name })
  assert.equal(broker.status, 200, JSON.stringify(broker.json))
  const created = await n.api('POST', `/v1/namespaces/${ns}/brokers/${name}/devices`, { name: device, description: 'a test device' })
  assert.equal(created.status, 200, JSON.stringify(created.json))
  return { brokerId: broker.json.id as string, key: created.json.key as string }
}

test('auth over MQTT on one node', async (t) => {
  const n = await startEventNode(t, AUTH)
  const port = n.node.mqttAuth?.address.port ?? 0
  assert.ok(port > 0)
  const { brokerId, key } = await brokerWithDevice(n, 'acme', 'sensors', 'temperature-sensor')

  await t.test('the device gets token, name and endpoint in one binary message, then the connection ends', async (t) => {
    for (const version of [4, 5] as const) {
      const got = await fetchToken(t, port, brokerId, `temperature-sensor:${key}`, version)
      assert.equal((got.connack as { returnCode?: number, reasonCode?: number })[version === 5 ? 'reasonCode' : 'returnCode'], 0)
      assert.deepEqual((got.received.find((p) => p.cmd === 'suback') as { granted: number[] }).granted, [0])
      const message = decodeAuthMessage(got.message as Buffer)
      assert.equal(message.deviceName, 'temperature-sensor')
      assert.equal(message.endpointUrl, `mqtts://sensors.acme.mqtt.example.test:${n.node.config.tls.port}`)
      assert.equal((got.message as Buffer).length, 6 + Buffer.byteLength(message.token) + Buffer.byteLength('temperature-sensor') + Buffer.byteLength(message.endpointUrl))
      const broker = await n.identity.tenancy.getBroker('acme', 'sensors')
      const verified = await n.identity.tokens.verify(broker, message.token)
      assert.equal(verified.clientId, 'temperature-sensor')
      assert.ok(verified.expiresAt !== undefined && verified.expiresAt > Date.now() / 1000 + 3600)
      if (version === 5) assert.equal((got.received.find((p) => p.cmd === 'disconnect') as { reasonCode?: number } | undefined)?.reasonCode, 0)
      assert.ok(got.closed)
      // The token opens the main listener (its broker from the token's audience), as the device.
      const device = await connectClient(t, n.url, { protocolVersion: version, clientId: 'temperature-sensor', username: 'any', password: message.token })
      const got2 = collect(device)
      await device.subscribeAsync('readings', { qos: 1 })
      await device.publishAsync('readings', '21.5', { qos: 1 })
      await waitFor(() => got2.length === 1, 3000, 'own message')
      await endClient(device)
    }
  })

  await t.test('the device list shows names and times, never keys or hashes', async () => {
    const list = await n.api('GET', '/v1/namespaces/acme/brokers/sensors/devices')
    assert.equal(list.status, 200)
    assert.deepEqual(list.json.map((d: Record<string, unknown>) => Object.keys(d).sort()), [['created_on', 'description', 'name']])
    assert.ok(!JSON.stringify(list.json).includes(key))
    const twice = await n.api('POST', '/v1/namespaces/acme/brokers/sensors/devices', { name: 'temperature-sensor' })
    assert.equal(twice.status, 409)
  })

  await t.test('wrong key, unknown device, unknown broker: CONNACK 5 / 0x87, counted, no token', async (t) => {
    const before = value(await scrape(n.node.port('http')), 'starling_mqtt_auth_attempts_total', { result: 'refused' })
    const wrong = await fetchToken(t, port, brokerId, 'temperature-sensor:not-the-key-at-all', 4)
    assert.equal((wrong.connack as { returnCode?: number }).returnCode, 5)
    const v5 = await fetchToken(t, port, brokerId, `temperature-sensor:${key}x`, 5)
    assert.equal((v5.connack as { reasonCode?: number }).reasonCode, 0x87)
    const unknownDevice = await fetchToken(t, port, brokerId, `humidity-sensor:${key}`, 4)
    assert.equal((unknownDevice.connack as { returnCode?: number }).returnCode, 5)
    const otherBroker = await fetchToken(t, port, '01HXXXXXXXXXXXXXXXXXXXXXXX', `temperature-sensor:${key}`, 4)
    assert.equal((otherBroker.connack as { returnCode?: number }).returnCode, 5)
    for (const got of [wrong, v5, unknownDevice, otherBroker]) assert.ok(got.message === undefined && got.closed)
    assert.equal(value(await scrape(n.node.port('http')), 'starling_mqtt_auth_attempts_total', { result: 'refused' }) - before, 4)
    // The device key is no MQTT password on the broker's own endpoint (a TOKEN broker).
    const [wsUrl, wsOpts] = n.ws('acme', 'sensors', { protocolVersion: 4, clientId: 'temperature-sensor', username: 'any', password: key })
    assert.equal(await refusedCode(wsUrl, wsOpts), 4)
  })

  await t.test('repeated failures slow the next answers from that address (bounded)', async (t) => {
    // Four failures so far from 127.0.0.1: the next CONNECT waits 100 ms × 2^3 = 800 ms, the right key too.
    const started = Date.now()
    const got = await fetchToken(t, port, brokerId, `temperature-sensor:${key}`, 4)
    assert.equal((got.connack as { returnCode?: number }).returnCode, 0)
    assert.ok(Date.now() - started >= 700, `answered after ${Date.now() - started} ms`)
    for (let i = 0; i < 3; i++) await fetchToken(t, port, brokerId, 'temperature-sensor:wrong-key-wrong-key', 4)
    const capped = Date.now()
    await fetchToken(t, port, brokerId, 'temperature-sensor:wrong-key-wrong-key', 4)
    const waited = Date.now() - capped
    assert.ok(waited >= 1900 && waited < 3500, `capped at mqttAuth.failureDelayMaxMs: waited ${waited} ms`)
  })

  await t.test('a deleted device\'s key stops working', async (t) => {
    assert.equal((await n.api('DELETE', '/v1/namespaces/acme/brokers/sensors/devices/temperature-sensor')).status, 200)
    assert.equal((await n.api('DELETE', '/v1/namespaces/acme/brokers/sensors/devices/temperature-sensor')).status, 404)
    const got = await fetchToken(t, port, brokerId, `temperature-sensor:${key}`, 5)
    assert.equal((got.connack as { reasonCode?: number }).reasonCode, 0x87)
  })
})

test('auth over MQTT is off by default', async (t) => {
  const n = await startEventNode(t)
  assert.equal(n.node.mqttAuth, undefined)
})

test('auth over MQTT across two nodes on one Redis: a device registered through one pod fetches a token from the other', async (t) => {
  const redis = await startRedis(t)
  const a = await startEventNode(t, AUTH, { redisUrl: redis.url, nodeId: 'auth-a' })
  const b = await startEventNode(t, AUTH, { redisUrl: redis.url, nodeId: 'auth-b' })
  const { brokerId, key } = await brokerWithDevice(a, 'acme', 'fleet', 'truck-7')
  // b's cache learns of the new broker through the change channel.
  const deadline = Date.now() + 3000
  while (b.identity.tenancy.findBrokerById(brokerId) === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const got = await fetchToken(t, b.node.mqttAuth?.address.port ?? 0, brokerId, `truck-7:${key}`, 5)
  const message = decodeAuthMessage(got.message as Buffer)
  assert.equal(message.deviceName, 'truck-7')
  const verified = await a.identity.tokens.verify(await a.identity.tenancy.getBroker('acme', 'fleet'), message.token)
  assert.equal(verified.clientId, 'truck-7')
})
