import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IDisconnectPacket, ISubackPacket, Packet } from 'mqtt-packet'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub, type MqttVersion } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

// mosquitto_pub / mosquitto_sub (2.0.11) against a Starling node: QoS 0/1/2 delivery in every
// version pairing, interop with mqtt.js, wildcards, `$` topics and invalid filters.

const FORMAT = '%t|%p|%q|%r' // topic | payload | QoS | retain flag
const VERSIONS: readonly MqttVersion[] = ['mqttv311', 'mqttv5']

for (const pubVersion of VERSIONS) {
  for (const subVersion of VERSIONS) {
    test(`QoS 0, 1 and 2 from a ${pubVersion} mosquitto_pub reach a ${subVersion} mosquitto_sub at the granted QoS`, async (t) => {
      const { mqttPort } = await startTestNode(t)
      const sub = mosquittoSub(t, [...brokerArgs(mqttPort, subVersion), '-d', '-t', 'q/#', '-q', '2', '-C', '3', '-W', '10', '-F', FORMAT])
      assert.deepEqual(await sub.granted, [2])
      for (const qos of [0, 1, 2]) {
        const pub = await mosquittoPub([...brokerArgs(mqttPort, pubVersion), '-t', `q/${qos}`, '-m', `payload ${qos}`, '-q', String(qos)])
        assert.equal(pub.code, 0, pub.stderr)
      }
      assert.equal(await sub.exited, 0, sub.stderr())
      assert.deepEqual(sub.messages(), ['q/0|payload 0|0|0', 'q/1|payload 1|1|0', 'q/2|payload 2|2|0'])
    })
  }

  test(`a ${pubVersion} QoS 2 publish to a QoS 1 mosquitto_sub is downgraded to QoS 1`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, pubVersion), '-d', '-t', 'down/x', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT])
    assert.deepEqual(await sub.granted, [1])
    await mosquittoPub([...brokerArgs(mqttPort, pubVersion), '-t', 'down/x', '-m', 'two', '-q', '2'])
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['down/x|two|1|0'])
  })
}

for (const version of VERSIONS) {
  test(`${version} mosquitto_pub → mqtt.js 3.1.1 and 5 subscribers, payload and QoS intact`, async (t) => {
    const { mqttPort, url } = await startTestNode(t)
    const sub4 = await connectClient(t, url, { protocolVersion: 4, clientId: 'js4' })
    const sub5 = await connectClient(t, url, { protocolVersion: 5, clientId: 'js5' })
    const got4 = collect(sub4)
    const got5 = collect(sub5)
    await sub4.subscribeAsync('mix/#', { qos: 2 })
    await sub5.subscribeAsync('mix/#', { qos: 2 })
    for (const qos of [0, 1, 2]) {
      const pub = await mosquittoPub([...brokerArgs(mqttPort, version), '-t', `mix/${qos}`, '-m', `from mosquitto ${qos}`, '-q', String(qos)])
      assert.equal(pub.code, 0, pub.stderr)
    }
    await waitFor(() => got4.length === 3 && got5.length === 3, 5000, 'three messages on each mqtt.js client')
    for (const got of [got4, got5]) {
      assert.deepEqual(got.map((m) => [m.topic, m.payload.toString(), m.packet.qos, m.packet.retain]), [
        ['mix/0', 'from mosquitto 0', 0, false],
        ['mix/1', 'from mosquitto 1', 1, false],
        ['mix/2', 'from mosquitto 2', 2, false]
      ])
    }
  })

  test(`mqtt.js 3.1.1 and 5 publishers → ${version} mosquitto_sub`, async (t) => {
    const { mqttPort, url } = await startTestNode(t)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'js/#', '-q', '2', '-C', '6', '-W', '10', '-F', FORMAT])
    assert.deepEqual(await sub.granted, [2])
    for (const protocolVersion of [4, 5] as const) {
      const pub = await connectClient(t, url, { protocolVersion, clientId: `jspub${protocolVersion}` })
      for (const qos of [0, 1, 2] as const) await pub.publishAsync(`js/v${protocolVersion}`, `q${qos}`, { qos })
    }
    assert.equal(await sub.exited, 0, sub.stderr())
    // Sorted: the broker sends them in order, but libmosquitto hands a QoS 2 message to the
    // application only at PUBREL, so a later QoS 0/1 message may be printed first.
    assert.deepEqual([...sub.messages()].sort(), [
      'js/v4|q0|0|0', 'js/v4|q1|1|0', 'js/v4|q2|2|0',
      'js/v5|q0|0|0', 'js/v5|q1|1|0', 'js/v5|q2|2|0'
    ])
  })

  test(`${version}: + and # wildcards match by level; # also matches the parent level`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'home/+/temp', '-t', 'office/#', '-C', '4', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await sub.granted, [0, 0])
    const topics = ['home/kitchen/temp', 'home/kitchen/humidity', 'home/a/b/temp', 'home/temp', 'office', 'office/1/2', 'offices/x', 'home/hall/temp']
    for (const topic of topics) await mosquittoPub([...brokerArgs(mqttPort, version), '-t', topic, '-m', topic, '-q', '1'])
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['home/kitchen/temp|home/kitchen/temp', 'office|office', 'office/1/2|office/1/2', 'home/hall/temp|home/hall/temp'])
  })

  test(`${version}: # does not match $-topics; an explicit $ filter does`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const all = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', '#', '-t', '+/x', '-C', '1', '-W', '10', '-F', '%t|%p'])
    const dollar = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', '$app/#', '-C', '1', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await all.granted, [0, 0])
    assert.deepEqual(await dollar.granted, [0])
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', '$app/x', '-m', 'hidden', '-q', '1'])
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'plain/x', '-m', 'visible', '-q', '1'])
    assert.equal(await all.exited, 0, all.stderr())
    assert.equal(await dollar.exited, 0, dollar.stderr())
    assert.deepEqual(all.messages(), ['plain/x|visible'])
    assert.deepEqual(dollar.messages(), ['$app/x|hidden'])
  })

  test(`${version}: mosquitto refuses invalid filters and wildcard publish topics client-side; the broker refuses them too`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    // mosquitto_sub/pub validate before connecting: exit code 1 and a message, nothing is sent.
    const badSub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-t', 'a/#/b', '-W', '5'])
    assert.equal(await badSub.exited, 1)
    assert.match(badSub.stderr(), /Invalid subscription topic 'a\/#\/b'/)
    const badPub = await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'a/+', '-m', 'x'])
    assert.equal(badPub.code, 1)
    assert.match(badPub.stderr, /Invalid publish topic 'a\/\+'/)
    // The server-side check, with a raw SUBSCRIBE: SUBACK failure 0x80 (3.1.1) / 0x8F Topic Filter
    // invalid (5) for a filter with `#` not last [MQTT-4.7.1-2]; the connection stays up.
    const protocolVersion = version === 'mqttv5' ? 5 : 4
    const { client: raw } = await rawMqttConnect(t, mqttPort, { protocolVersion, clientId: `bad-${version}` })
    raw.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'a/#/b', qos: 0 }] } as Packet)
    const suback = await raw.next<ISubackPacket>('suback')
    assert.deepEqual(suback.granted, [protocolVersion === 5 ? 0x8f : 0x80])
    // A wildcard in a PUBLISH topic closes the connection, after DISCONNECT 0x90 in 5 [MQTT-3.3.2-2].
    raw.send({ cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false, dup: false } as Packet)
    await raw.waitClosed()
    if (protocolVersion === 5) assert.equal((await raw.next<IDisconnectPacket>('disconnect')).reasonCode, 0x90)
    // The node is still serving.
    const after = await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'still/up', '-m', 'ok', '-q', '1'])
    assert.equal(after.code, 0, after.stderr)
  })
}
