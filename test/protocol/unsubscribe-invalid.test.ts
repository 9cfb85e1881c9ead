import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket, IUnsubackPacket, Packet } from 'mqtt-packet'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'

// UNSUBSCRIBE with an invalid Topic Filter among valid ones [MQTT-4.7.1-1] [MQTT-4.7.3-1]:
// v5 answers 0x8F (Topic Filter invalid) for that entry and handles the others [MQTT-3.11.3-1];
// 3.1.1 may close the connection, Starling keeps it and sends a plain UNSUBACK (the invalid
// filter cannot name a subscription, so there is nothing to remove).

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

for (const protocolVersion of [4, 5] as const) {
  test(`${protocolVersion}: an invalid filter in UNSUBSCRIBE is refused alone; the connection and the other entries stay`, async (t) => {
    const { url, mqttPort } = await startTestNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion, clientId: `unsub-${protocolVersion}` })
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'un/a', qos: 0 }, { topic: 'un/b', qos: 0 }] } as Packet)
    await client.next('suback')
    client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['un/a', 'un/#/x', 'un/c+'] } as Packet)
    const unsuback = await client.next<IUnsubackPacket>('unsuback')
    assert.equal(unsuback.messageId, 2)
    if (protocolVersion === 5) assert.deepEqual(unsuback.granted, [0x00, 0x8f, 0x8f])

    const pub = await connectClient(t, url, { protocolVersion: 5, clientId: `unsub-pub-${protocolVersion}` })
    await pub.publishAsync('un/a', 'gone')
    await pub.publishAsync('un/b', 'kept')
    await waitFor(() => publishes(client).length >= 1, 5000, 'the message on the kept subscription')
    await sleep(100) // proves un/a was unsubscribed
    assert.deepEqual(publishes(client).map((p) => p.payload.toString()), ['kept'])
    assert.equal(client.closed, false)
  })
}
