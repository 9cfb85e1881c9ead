import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'

// QoS 2 and QoS 1 delivery to a persistent session that is interrupted and resumed, driven by a
// raw client that acknowledges exactly when the test says so:
// - a PUBREL replaces the stored PUBLISH with the same packet identifier and keeps its own id
//   [MQTT-4.3.3-1] [MQTT-2.3.1-6]; several PUBRECs in one TCP segment each get their own PUBREL;
// - on resumption the broker resends an unacknowledged PUBREL, not the PUBLISH [MQTT-4.4.0-1], and
//   an unacknowledged PUBLISH with DUP=1 and the same id [MQTT-3.3.1-1] [MQTT-4.4.0-1];
// - a message sent for the first time from the offline queue has DUP=0 [MQTT-3.3.1-1].

type Version = 4 | 5

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

function ids (client: RawClient, cmd: Packet['cmd']): number[] {
  return client.received.filter((p) => p.cmd === cmd).map((p) => (p as { messageId: number }).messageId)
}

async function gone ({ node }: TestNode, clientId: string): Promise<void> {
  await waitFor(() => node.broker.clients[clientId] === undefined, 3000, `${clientId} gone`)
}

/** (Re)connects a persistent session with no automatic acknowledgement. */
async function session (t: TestContext, tn: TestNode, version: Version, clientId: string): Promise<{ client: RawClient, sessionPresent: boolean }> {
  const connect = version === 5
    ? { protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
    : { protocolVersion: 4 as const, clientId, clean: false }
  const { client, connack } = await rawMqttConnect(t, tn.mqttPort, connect as never)
  return { client, sessionPresent: (connack as { sessionPresent: boolean }).sessionPresent }
}

/** Creates the session with one subscription and leaves (socket dropped, session kept). */
async function subscribeAndLeave (t: TestContext, tn: TestNode, version: Version, clientId: string, filter: string, qos: 1 | 2): Promise<void> {
  const { client } = await session(t, tn, version, clientId)
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] } as Packet)
  await client.next('suback')
  client.destroy()
  await gone(tn, clientId)
}

async function leave (tn: TestNode, client: RawClient, clientId: string): Promise<void> {
  client.destroy()
  await gone(tn, clientId)
}

async function publishOffline (t: TestContext, tn: TestNode, topic: string, payloads: readonly string[], qos: 1 | 2): Promise<void> {
  const pub = await connectClient(t, tn.url, { protocolVersion: 5, clientId: `pub-${topic.replace(/\W/g, '-')}` })
  for (const payload of payloads) await pub.publishAsync(topic, payload, { qos })
}

function ackAll (client: RawClient, version: Version, cmd: 'pubrec' | 'pubcomp' | 'puback', messageIds: readonly number[]): void {
  // One TCP write, so the broker parses them in one batch.
  client.sendBytes(Buffer.concat(messageIds.map((messageId) => mqttPacket.generate({ cmd, messageId } as Packet, { protocolVersion: version }))))
}

for (const version of [4, 5] as const) {
  test(`${version}: several queued QoS 2 messages PUBRECed at once get one PUBREL each, then nothing is redelivered [MQTT-4.3.3-1]`, async (t) => {
    const tn = await startTestNode(t)
    const id = `q2-batch-${version}`
    await subscribeAndLeave(t, tn, version, id, 'q2b/#', 2)
    const payloads = ['m0', 'm1', 'm2', 'm3']
    await publishOffline(t, tn, 'q2b/x', payloads, 2)

    const { client: first } = await session(t, tn, version, id)
    await waitFor(() => publishes(first).length === payloads.length, 5000, 'the queued messages')
    const sent = publishes(first)
    assert.deepEqual(sent.map((p) => [p.payload.toString(), p.qos, p.dup]), payloads.map((p) => [p, 2, false]), 'first delivery from the queue has DUP=0')
    const publishIds = sent.map((p) => p.messageId as number)
    assert.equal(new Set(publishIds).size, payloads.length, 'distinct packet identifiers')

    ackAll(first, version, 'pubrec', publishIds)
    await waitFor(() => ids(first, 'pubrel').length >= payloads.length, 5000, 'the PUBRELs')
    await sleep(100) // proves no extra PUBREL follows
    assert.deepEqual(ids(first, 'pubrel').sort(), [...publishIds].sort(), 'one PUBREL per PUBREC, with its own packet identifier')
    ackAll(first, version, 'pubcomp', publishIds)
    await sleep(100) // lets the broker process the PUBCOMPs before the socket goes
    await leave(tn, first, id)

    const { client: second, sessionPresent } = await session(t, tn, version, id)
    assert.equal(sessionPresent, true)
    await sleep(300) // proves nothing is redelivered
    assert.deepEqual(second.received.filter((p) => p.cmd !== 'connack').map((p) => p.cmd), [], 'exactly once: nothing comes back')
  })

  test(`${version}: disconnected between PUBREC and PUBCOMP, the broker resends the PUBREL, not the PUBLISH [MQTT-4.4.0-1]`, async (t) => {
    const tn = await startTestNode(t)
    const id = `q2-rel-${version}`
    await subscribeAndLeave(t, tn, version, id, 'q2r/#', 2)
    await publishOffline(t, tn, 'q2r/x', ['a', 'b'], 2)

    const { client: first } = await session(t, tn, version, id)
    await waitFor(() => publishes(first).length === 2, 5000, 'the queued messages')
    const [a, b] = publishes(first).map((p) => p.messageId as number) as [number, number]
    ackAll(first, version, 'pubrec', [a, b])
    await waitFor(() => ids(first, 'pubrel').length >= 2, 5000, 'the PUBRELs')
    await sleep(50) // lets the broker store both PUBRELs
    await leave(tn, first, id)

    const { client: second } = await session(t, tn, version, id)
    await waitFor(() => ids(second, 'pubrel').length >= 2, 5000, 'the resent PUBRELs')
    await sleep(100) // proves no PUBLISH follows
    assert.deepEqual(ids(second, 'pubrel').sort(), [a, b].sort())
    assert.equal(publishes(second).length, 0, 'the PUBLISH is not resent after its PUBREC')
    ackAll(second, version, 'pubcomp', [a, b])
    await sleep(100)
    await leave(tn, second, id)

    const { client: third } = await session(t, tn, version, id)
    await sleep(300) // proves nothing is redelivered
    assert.deepEqual(third.received.filter((p) => p.cmd !== 'connack').map((p) => p.cmd), [])
  })

  for (const qos of [1, 2] as const) {
    test(`${version}: disconnected before acknowledging, QoS ${qos} PUBLISH is resent with DUP=1 and the same id [MQTT-3.3.1-1]`, async (t) => {
      const tn = await startTestNode(t)
      const id = `dup-${qos}-${version}`
      await subscribeAndLeave(t, tn, version, id, 'dup/#', qos)
      await publishOffline(t, tn, 'dup/x', ['once'], qos)

      const { client: first } = await session(t, tn, version, id)
      const original = await first.next<IPublishPacket>('publish')
      assert.equal(original.dup, false, 'first delivery from the offline queue has DUP=0')
      await leave(tn, first, id)

      const { client: second } = await session(t, tn, version, id)
      const resent = await second.next<IPublishPacket>('publish')
      assert.deepEqual([resent.payload.toString(), resent.qos, resent.messageId, resent.dup], ['once', qos, original.messageId, true])
      const messageId = resent.messageId as number
      if (qos === 1) {
        ackAll(second, version, 'puback', [messageId])
      } else {
        ackAll(second, version, 'pubrec', [messageId])
        await second.next('pubrel')
        ackAll(second, version, 'pubcomp', [messageId])
      }
      await sleep(100)
      await leave(tn, second, id)

      const { client: third } = await session(t, tn, version, id)
      await sleep(300) // proves nothing is redelivered
      assert.deepEqual(third.received.filter((p) => p.cmd !== 'connack').map((p) => p.cmd), [])
    })
  }
}
