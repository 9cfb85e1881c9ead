import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPubcompPacket, IPublishPacket, Packet } from 'mqtt-packet'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'

// Acknowledgements for packet identifiers the broker does not know:
// - PUBREL → PUBCOMP with reason 0x92 Packet Identifier not found in v5 (§3.7.2.1), a plain
//   PUBCOMP in 3.1.1; a known one still completes with 0x00;
// - PUBACK / PUBCOMP for an unknown or already acknowledged id change nothing: the connection
//   stays up and the Receive Maximum window is not freed twice [MQTT-3.3.4-7] [MQTT-3.3.4-8].

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

for (const protocolVersion of [4, 5] as const) {
  test(`${protocolVersion}: PUBREL for an unknown packet identifier gets a PUBCOMP${protocolVersion === 5 ? ' 0x92' : ''}`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion, clientId: `rel-${protocolVersion}` })
    client.send({ cmd: 'pubrel', messageId: 77 } as Packet)
    const unknown = await client.next<IPubcompPacket>('pubcomp', 5000, (p) => p.messageId === 77)
    if (protocolVersion === 5) assert.equal(unknown.reasonCode, 0x92)

    client.send({ cmd: 'publish', topic: 'rel/x', payload: Buffer.from('q2'), qos: 2, dup: false, retain: false, messageId: 5 } as Packet)
    await client.next('pubrec')
    client.send({ cmd: 'pubrel', messageId: 5 } as Packet)
    const known = await client.next<IPubcompPacket>('pubcomp', 5000, (p) => p.messageId === 5)
    assert.ok(known.reasonCode === undefined || known.reasonCode === 0, `known id completes with 0x00, got ${String(known.reasonCode)}`)
    assert.equal(client.closed, false)
  })
}

test('5: PUBACK / PUBCOMP for unknown or repeated ids neither close the connection nor free a window slot', async (t) => {
  const { url, mqttPort } = await startTestNode(t)
  const { client: sub } = await rawMqttConnect(t, mqttPort, { clientId: 'ack-unknown', properties: { receiveMaximum: 1 } })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ack/x', qos: 1 }] } as Packet)
  await sub.next('suback')
  sub.send({ cmd: 'puback', messageId: 999 } as Packet)
  sub.send({ cmd: 'pubcomp', messageId: 998 } as Packet)

  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'ack-pub' })
  for (const payload of ['m0', 'm1', 'm2']) await pub.publishAsync('ack/x', payload, { qos: 1 })
  await waitFor(() => publishes(sub).length >= 1, 5000, 'first message')
  const first = publishes(sub)[0] as IPublishPacket
  sub.send({ cmd: 'puback', messageId: first.messageId } as Packet)
  sub.send({ cmd: 'puback', messageId: first.messageId } as Packet)
  sub.send({ cmd: 'pubcomp', messageId: first.messageId } as Packet)
  await waitFor(() => publishes(sub).length >= 2, 5000, 'second message')
  await sleep(200) // proves the repeated acks did not release the third message
  assert.deepEqual(publishes(sub).map((p) => p.payload.toString()), ['m0', 'm1'])

  sub.send({ cmd: 'puback', messageId: (publishes(sub)[1] as IPublishPacket).messageId } as Packet)
  await waitFor(() => publishes(sub).length >= 3, 5000, 'third message')
  sub.send({ cmd: 'pingreq' } as Packet)
  await sub.next('pingresp')
  assert.equal(sub.closed, false)
})
