import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sleep } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub, type MqttVersion } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'

// ACL refusals as mosquitto_sub / mosquitto_pub users see them. A refused subscription gets SUBACK
// 0x80 (3.1.1) / 0x87 Not authorized (5); mosquitto_sub prints the codes with -d, and when every
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

  test(`${version}: # overlaps the denied secret/# and is refused too (no reading around the rule)`, async (t) => {
    const { mqttPort } = await startTestNode(t, ACL)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', '#', '-W', '10'])
    assert.deepEqual(await sub.granted, [refused])
    assert.equal(await sub.exited, 0)
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
