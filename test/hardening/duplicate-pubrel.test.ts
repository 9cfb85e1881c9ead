import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqttPacket, { type IPubcompPacket } from 'mqtt-packet'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

// Found by the fuzzer (loadtest/fuzz): two PUBRELs for one QoS 2 packet id arriving in one read
// both found the stored PUBLISH; the second delete failed and its rejection went unhandled,
// which ends a Node process. Both are answered with PUBCOMP [MQTT-4.3.3-11] and the pod serves.
for (const protocolVersion of [4, 5] as const) {
  test(`two PUBRELs of one packet id in one TCP segment: two PUBCOMPs, the message delivered once (v${protocolVersion})`, async (t) => {
    const node = await startTestNode(t)
    const sub = await connectClient(t, node.url, { protocolVersion: 5, clientId: 'pubrel-sub' })
    const got = collect(sub)
    await sub.subscribeAsync('qos2/t', { qos: 2 })
    const { client } = await rawMqttConnect(t, node.mqttPort, { protocolVersion, clientId: `pubrel-pub-${protocolVersion}` })
    client.send({ cmd: 'publish', topic: 'qos2/t', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false })
    await client.next('pubrec')
    const pubrel = mqttPacket.generate({ cmd: 'pubrel', messageId: 7 }, { protocolVersion })
    client.sendBytes(Buffer.concat([pubrel, pubrel]))
    await waitFor(() => client.received.filter((p) => p.cmd === 'pubcomp').length === 2, 5000, 'two PUBCOMPs')
    for (const p of client.received.filter((p): p is IPubcompPacket => p.cmd === 'pubcomp')) assert.equal(p.messageId, 7)
    await waitFor(() => got.length === 1, 5000, 'the message')
    assert.equal(client.closed, false)
    // the connection and the pod keep working
    client.send({ cmd: 'publish', topic: 'qos2/t', payload: Buffer.from('after'), qos: 2, messageId: 8, retain: false, dup: false })
    await client.next('pubrec', 5000, (p) => p.messageId === 8)
    client.send({ cmd: 'pubrel', messageId: 8 })
    await waitFor(() => got.length === 2, 5000, 'the second message')
    assert.deepEqual(got.map((m) => m.payload.toString()), ['once', 'after'])
  })
}
