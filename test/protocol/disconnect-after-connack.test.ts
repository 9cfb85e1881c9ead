import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import type { Client } from 'aedes'
import mqttPacket, { type IDisconnectPacket, type Packet } from 'mqtt-packet'
import { connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { rawConnect, rawMqttConnect, type RawClient } from '../helpers/raw-client.js'

// A protocol violation right after the CONNACK is answered with a v5 DISCONNECT carrying its
// reason code, like one later in the connection [MQTT-4.13.1-1] [MQTT-3.14.2-1], and the
// DISCONNECT is the last packet the broker sends [MQTT-3.14.4-1]. Two timings: the offending
// packet in the same TCP write as the CONNECT; and the offending packet arriving after the
// CONNACK while the broker is still replaying a persistent session's queue (the replay is held
// up because the client does not read yet), i.e. before the connect sequence has finished.

const CONNECT = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, keepalive: 60 } as const

function bytes (packets: readonly Packet[]): Buffer {
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: 5 })))
}

function publish (topic: string, extra: Partial<Packet>): Packet {
  return { cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, dup: false, retain: false, ...extra } as Packet
}

const cases = [
  { name: 'Topic Alias above the maximum', code: 0x94, overrides: { 'limits.topicAliasMaximum': 2 }, offending: [publish('dc/a', { properties: { topicAlias: 3 } })] },
  { name: 'Receive Maximum exceeded', code: 0x93, overrides: { 'limits.receiveMaximum': 1 }, offending: [1, 2].map((messageId) => publish('dc/b', { qos: 2, messageId })) },
  { name: 'packet too large', code: 0x95, overrides: { 'limits.maxPacketSize': 128 }, offending: [publish('dc/c', { payload: Buffer.alloc(300, 1) })] }
] as const

function assertEndsWithDisconnect (raw: RawClient, code: number): void {
  const cmds = raw.received.map((p) => p.cmd)
  assert.equal(cmds[0], 'connack')
  assert.equal(cmds.at(-1), 'disconnect', `last packet (got ${cmds.filter((c) => c !== 'publish').join(',')})`)
  assert.equal(cmds.filter((c) => c === 'disconnect').length, 1)
  assert.equal((raw.received.at(-1) as IDisconnectPacket).reasonCode, code)
}

/** A persistent session with ~12 MB queued, more than the loopback socket buffers hold. */
async function bigQueue (t: TestContext, tn: TestNode, clientId: string): Promise<void> {
  const { client } = await rawMqttConnect(t, tn.mqttPort, { clientId, clean: false, properties: { sessionExpiryInterval: 60 } })
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big/#', qos: 1 }] } as Packet)
  await client.next('suback')
  client.destroy()
  const broker = tn.node.broker as unknown as { clients: Record<string, unknown> }
  await waitFor(() => broker.clients[clientId] === undefined, 3000, 'session offline')
  const pub = await connectClient(t, tn.url, { protocolVersion: 5, clientId: `${clientId}-pub` })
  const payload = Buffer.alloc(500_000, 7)
  for (let i = 0; i < 24; i++) await pub.publishAsync('big/x', payload, { qos: 1 })
}

for (const c of cases) {
  test(`${c.name}: CONNECT + offending packet in one write → CONNACK, DISCONNECT 0x${c.code.toString(16)}`, async (t) => {
    const { mqttPort } = await startTestNode(t, c.overrides)
    const raw = await rawConnect(t, mqttPort)
    raw.sendBytes(bytes([{ ...CONNECT, clientId: `dc-one-${c.code}`, clean: true } as Packet, ...c.offending]))
    await raw.waitClosed()
    assertEndsWithDisconnect(raw, c.code)
  })

  test(`${c.name}: offending packet during the queue replay after CONNACK → DISCONNECT 0x${c.code.toString(16)} last`, async (t) => {
    const tn = await startTestNode(t, { ...c.overrides, 'limits.maxPacketSize': 1_000_000 })
    const clientId = `dc-replay-${c.code}`
    await bigQueue(t, tn, clientId)
    const acked = new Promise<void>((resolve) => {
      tn.node.broker.on('connackSent', (_packet: unknown, client: Client) => { if (client.id === clientId) resolve() })
    })
    const raw = await rawConnect(t, tn.mqttPort)
    raw.socket.pause() // the replay stalls on a full socket, so the connect sequence is still running
    raw.send({ ...CONNECT, clientId, clean: false, properties: { sessionExpiryInterval: 60 } } as Packet)
    await acked
    const offending = c.code === 0x95 ? [publish('dc/c', { payload: Buffer.alloc(1_100_000, 1) })] : c.offending
    raw.sendBytes(bytes(offending))
    raw.socket.resume()
    await raw.waitClosed(10000)
    assertEndsWithDisconnect(raw, c.code)
  })
}
