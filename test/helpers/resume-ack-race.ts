import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectClient, sleep, waitFor } from './clients.js'
import type { TestNode } from './node.js'
import { rawConnect, rawMqttConnect, type RawClient } from './raw-client.js'

// A resumed session whose unacknowledged QoS 1 messages are about to be resent, and a client that
// acknowledges their original packet ids before the resends arrive (its PUBACKs of the previous
// connection were lost, or it acks what it already processed): a PUBACK removes its stored
// message, and the replay, reaching a message that is gone, must skip it, not fail the connection
// (aedes emitted "no such packet" as a client error and closed it) [MQTT-4.4.0-1] [MQTT-4.3.2-4].
// The PUBACKs go out as the CONNACK arrives, so the broker reads them while the replay runs: the
// first messages may still be resent (allowed: the PUBACK then acknowledges the resend), the
// others are gone when the replay reaches them.

type Version = 4 | 5

function connectPacket (version: Version, clientId: string): Packet {
  return (version === 5
    ? { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: false, keepalive: 60, properties: { sessionExpiryInterval: 300 } }
    : { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: false, keepalive: 60 }) as Packet
}

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

async function gone (tn: TestNode, clientId: string): Promise<void> {
  await waitFor(() => tn.node.broker.clients[clientId] === undefined, 3000, `${clientId} gone`)
}

const IN_FLIGHT = 40

/** Subscribes a persistent session at QoS 1, delivers IN_FLIGHT messages unacknowledged, drops the socket. */
async function inflightAndLeave (t: TestContext, tn: TestNode, version: Version, clientId: string, topic: string): Promise<number[]> {
  const { client: first } = await rawMqttConnect(t, tn.mqttPort, connectPacket(version, clientId) as never)
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as Packet)
  await first.next('suback')
  const pub = await connectClient(t, tn.url, { protocolVersion: 5, clientId: `pub-${clientId}` })
  await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, i) => await pub.publishAsync(topic, `m${i}`, { qos: 1 })))
  await waitFor(() => publishes(first).length === IN_FLIGHT, 5000, 'the messages in flight')
  first.destroy()
  await gone(tn, clientId)
  return publishes(first).map((p) => p.messageId as number)
}

export async function ackBeforeResend (t: TestContext, tn: TestNode, version: Version, clientId: string): Promise<void> {
  const topic = `race/${clientId}`
  const messageIds = await inflightAndLeave(t, tn, version, clientId, topic)

  const second = await rawConnect(t, tn.mqttPort, version)
  // The PUBACKs leave as soon as the CONNACK is read (packets sent with the CONNECT wait in aedes
  // until the replay is over), in one write: the broker reads them while the replay runs.
  second.onPacket = (packet) => {
    if (packet.cmd !== 'connack') return
    second.onPacket = undefined
    second.sendBytes(Buffer.concat(messageIds.map((messageId) => mqttPacket.generate({ cmd: 'puback', messageId } as Packet, { protocolVersion: version }))))
  }
  second.send(connectPacket(version, clientId))
  const connack = await second.next('connack')
  assert.equal((connack as { sessionPresent: boolean }).sessionPresent, true)
  await sleep(500) // the replay runs; proves the connection stays
  assert.equal(second.closed, false, 'the connection is kept')
  const resent = publishes(second)
  assert.ok(resent.length < IN_FLIGHT, `the messages acknowledged before the replay reached them are skipped (${resent.length} resent)`)
  for (const p of resent) assert.equal(p.dup, true, 'a resend, with DUP=1')

  // The session works on: a new message arrives on this connection.
  const pub = await connectClient(t, tn.url, { protocolVersion: 5, clientId: `pub2-${clientId}` })
  await pub.publishAsync(topic, 'after', { qos: 1 })
  await second.next<IPublishPacket>('publish', 5000, (p) => p.payload.toString() === 'after')
  for (const p of publishes(second)) second.send({ cmd: 'puback', messageId: p.messageId } as Packet)
  await sleep(100)
  second.destroy()
  await gone(tn, clientId)

  // and the acknowledged message stays gone.
  const { client: third } = await rawMqttConnect(t, tn.mqttPort, connectPacket(version, clientId) as never)
  await sleep(300)
  assert.deepEqual(publishes(third).map((p) => p.payload.toString()), [], 'nothing redelivered')
}

