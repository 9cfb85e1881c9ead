import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sleep } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub, type MqttVersion } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'

// ACLs as mosquitto_sub / mosquitto_pub users see them. A subscription is granted when its filter
// can match an allowed topic (so `#` works beside a deny rule) and denied topics are filtered at
// delivery. A filter that can match no allowed topic gets SUBACK 0x80 (3.1.1) / 0x87 Not authorized (5); mosquitto_sub prints the codes with -d, and when every
// filter is refused it says "All subscription requests were denied.", disconnects and exits 0.
// A refused publish is acknowledged normally in 3.1.1 and dropped [MQTT-3.3.5-2]; in 5 it gets
// PUBACK/PUBREC 0x87 and mosquitto_pub warns "Publish 1 failed: Not authorized.".

const VERSIONS: readonly MqttVersion[] = ['mqttv311', 'mqttv5']
const ACL = {
  acl: [
    { action: 'subscribe', topic: 'secret/#', allow: false },
    { action: 'publish', topic: 'readonly/#', allow: false }
  ]
}

for (const version of VERSIONS) {
  const refused = version === 'mqttv5' ? 0x87 : 0x80

  test(`${version}: mosquitto_sub -t secret/# is refused (${refused}); it reports it and the node keeps serving`, async (t) => {
    const { mqttPort } = await startTestNode(t, ACL)
    const denied = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'secret/#', '-W', '10'])
    assert.deepEqual(await denied.granted, [refused])
    assert.equal(await denied.exited, 0)
    assert.match(denied.stderr(), /All subscription requests were denied\./)
    assert.deepEqual(denied.messages(), [])

    const ok = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'public/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await ok.granted, [1])
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'public/x', '-m', 'still up', '-q', '1'])
    assert.equal(await ok.exited, 0, ok.stderr())
    assert.deepEqual(ok.messages(), ['public/x|still up'])
  })

  test(`${version}: with secret/# and open/# only open/# is granted and only its messages are printed`, async (t) => {
    const { mqttPort } = await startTestNode(t, ACL)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'secret/#', '-t', 'open/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await sub.granted, [refused, 1])
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'secret/x', '-m', 'hidden', '-q', '1'])
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'open/x', '-m', 'shown', '-q', '1'])
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['open/x|shown'])
  })

  test(`${version}: mosquitto_sub -t '#' is granted beside deny secret/# and prints only allowed messages, retained and live`, async (t) => {
    const { mqttPort } = await startTestNode(t, ACL)
    const args = brokerArgs(mqttPort, version)
    await mosquittoPub([...args, '-t', 'secret/kept', '-m', 'hidden', '-q', '1', '-r'])
    await mosquittoPub([...args, '-t', 'public/kept', '-m', 'shown', '-q', '1', '-r'])
    const sub = mosquittoSub(t, [...args, '-d', '-t', '#', '-q', '1', '-C', '3', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await sub.granted, [1])
    await mosquittoPub([...args, '-t', 'secret/live', '-m', 'hidden', '-q', '1'])
    await mosquittoPub([...args, '-t', 'public/live', '-m', 'shown', '-q', '1'])
    await mosquittoPub([...args, '-t', 'marker', '-m', 'end', '-q', '1'])
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['public/kept|shown', 'public/live|shown', 'marker|end'])
  })

  test(`${version}: a persistent mosquitto_sub -c on '#' gets only the allowed messages queued while it was away`, async (t) => {
    const { mqttPort } = await startTestNode(t, ACL)
    const args = brokerArgs(mqttPort, version)
    const id = `acl-offline-${version}`
    const first = mosquittoSub(t, [...args, '-d', '-c', '-i', id, '-t', '#', '-q', '1', '-E'])
    assert.deepEqual(await first.granted, [1])
    assert.equal(await first.exited, 0, first.stderr())
    await mosquittoPub([...args, '-t', 'secret/queued', '-m', 'hidden', '-q', '1'])
    await mosquittoPub([...args, '-t', 'public/queued', '-m', 'shown', '-q', '1'])
    const again = mosquittoSub(t, [...args, '-c', '-i', id, '-t', '#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p'])
    assert.equal(await again.exited, 0, again.stderr())
    assert.deepEqual(again.messages(), ['public/queued|shown'])
  })

  test(`${version}: deny-all refuses $foo/bar; allow # then deny $SYS/# refuses $SYS/# (${refused})`, async (t) => {
    const denyAll = await startTestNode(t, { acl: [{ action: 'all', topic: '#', allow: false }] })
    const sub = mosquittoSub(t, [...brokerArgs(denyAll.mqttPort, version), '-d', '-t', '$foo/bar', '-W', '10'])
    assert.deepEqual(await sub.granted, [refused])
    assert.equal(await sub.exited, 0)
    const sys = await startTestNode(t, { acl: [{ action: 'subscribe', topic: '#', allow: true }, { action: 'subscribe', topic: '$SYS/#', allow: false }] })
    const sysSub = mosquittoSub(t, [...brokerArgs(sys.mqttPort, version), '-d', '-t', '$SYS/#', '-t', '#', '-C', '1', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await sysSub.granted, [refused, 0])
    await mosquittoPub([...brokerArgs(sys.mqttPort, version), '-t', 'a/b', '-m', 'open'])
    assert.equal(await sysSub.exited, 0, sysSub.stderr())
    assert.deepEqual(sysSub.messages(), ['a/b|open'])
  })

  test(`${version}: mosquitto_pub to a publish-denied topic: QoS 1 and 2 ${version === 'mqttv5' ? 'get 0x87' : 'are acked and dropped'}, subscribers see nothing`, async (t) => {
    const { mqttPort } = await startTestNode(t, ACL)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'readonly/#', '-t', 'marker', '-q', '2', '-C', '1', '-W', '10', '-F', '%t|%p'])
    assert.deepEqual(await sub.granted, [2, 2])
    for (const qos of ['1', '2']) {
      const pub = await mosquittoPub([...brokerArgs(mqttPort, version), '-d', '-t', 'readonly/x', '-m', `q${qos}`, '-q', qos])
      if (version === 'mqttv5') {
        assert.match(pub.stdout, qos === '1' ? /received PUBACK \(Mid: 1, RC:135\)/ : /received PUBREC \(Mid: 1\)/)
        assert.match(pub.stderr, /Publish 1 failed: Not authorized\./)
      } else {
        assert.match(pub.stdout, qos === '1' ? /received PUBACK \(Mid: 1, RC:0\)/ : /received PUBCOMP \(Mid: 1, RC:0\)/)
      }
    }
    await sleep(200) // proves the refused messages are not forwarded
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'marker', '-m', 'end', '-q', '1'])
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['marker|end'])
  })
}
