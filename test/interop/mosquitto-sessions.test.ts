import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sleep, waitFor } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub, type MqttVersion } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'

// Persistent sessions with mosquitto_sub -c (clean session off / Clean Start 0) and, in MQTT 5,
// -x <session expiry>: messages published while the subscriber is away are queued and arrive
// in order when it comes back.

const FORMAT = '%t|%p|%q|%r'
const VERSIONS: readonly MqttVersion[] = ['mqttv311', 'mqttv5']

/** Session arguments: 3.1.1 `-c`; 5 `-c -x 60` (expires 60 s after disconnect). */
function sessionArgs (version: MqttVersion, id: string): string[] {
  return ['-c', '-i', id, ...(version === 'mqttv5' ? ['-x', '60'] : [])]
}

async function pub (port: number, version: MqttVersion, ...args: string[]): Promise<void> {
  const result = await mosquittoPub([...brokerArgs(port, version), ...args])
  assert.equal(result.code, 0, result.stderr)
}

for (const version of VERSIONS) {
  const other: MqttVersion = version === 'mqttv5' ? 'mqttv311' : 'mqttv5'

  test(`${version}: mosquitto_sub ${sessionArgs(version, 'id').join(' ')} -q 1 gets the QoS 1 messages sent while it was away, in order`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const id = `persist-${version}`
    const setup = mosquittoSub(t, [...brokerArgs(mqttPort, version), ...sessionArgs(version, id), '-q', '1', '-t', 'ps/#', '-E'])
    assert.equal(await setup.exited, 0, setup.stderr()) // -E: exits once subscribed
    for (let i = 1; i <= 5; i++) await pub(mqttPort, other, '-t', 'ps/x', '-m', `m${i}`, '-q', '1')
    const back = mosquittoSub(t, [...brokerArgs(mqttPort, version), ...sessionArgs(version, id), '-q', '1', '-t', 'ps/#', '-C', '5', '-W', '10', '-F', FORMAT])
    assert.equal(await back.exited, 0, back.stderr())
    // Ordered Topic: same topic and QoS keep the publish order [MQTT-4.6.0-6].
    assert.deepEqual(back.messages(), ['ps/x|m1|1|0', 'ps/x|m2|1|0', 'ps/x|m3|1|0', 'ps/x|m4|1|0', 'ps/x|m5|1|0'])
  })

  test(`${version}: a SIGKILLed persistent mosquitto_sub -q 2 resumes with queued QoS 1 and 2 messages at their QoS`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const id = `killed-${version}`
    const args = [...brokerArgs(mqttPort, version), ...sessionArgs(version, id), '-d', '-q', '2', '-t', 'k/#', '-W', '10', '-F', FORMAT]
    const first = mosquittoSub(t, args)
    await first.granted
    await pub(mqttPort, version, '-t', 'k/x', '-m', 'live', '-q', '1')
    await waitFor(() => first.messages().length === 1, 5000, 'the live message')
    first.process.kill('SIGKILL')
    await first.exited
    const sent = [['q1-a', '1'], ['q2-b', '2'], ['q1-c', '1'], ['q2-d', '2'], ['q1-e', '1']] as const
    for (const [payload, qos] of sent) await pub(mqttPort, other, '-t', 'k/x', '-m', payload, '-q', qos)
    const second = mosquittoSub(t, [...args, '-C', '5'])
    assert.equal(await second.exited, 0, `${second.stderr()}${second.lines.join('\n')}`)
    assert.deepEqual(first.messages(), ['k/x|live|1|0'])
    // Every queued message arrives once at its own QoS; within a QoS the publish order holds
    // (the spec orders per topic and QoS, not across QoS levels [MQTT-4.6.0-6]).
    const got = second.messages()
    assert.deepEqual([...got].sort(), sent.map(([payload, qos]) => `k/x|${payload}|${qos}|0`).sort())
    for (const qos of ['1', '2']) {
      assert.deepEqual(got.filter((l) => l.endsWith(`|${qos}|0`)), sent.filter(([, q]) => q === qos).map(([payload]) => `k/x|${payload}|${qos}|0`))
    }
    // Everything was acknowledged, so a third connection gets nothing again (exactly once).
    const third = mosquittoSub(t, [...args, '-C', '1'])
    await third.granted
    await sleep(300) // proves nothing is redelivered
    await pub(mqttPort, other, '-t', 'k/end', '-m', 'marker', '-q', '1')
    assert.equal(await third.exited, 0, third.stderr())
    assert.deepEqual(third.messages(), ['k/end|marker|1|0'])
  })

  test(`${version}: without -c the session is clean and nothing is queued`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const setup = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-i', `clean-${version}`, '-q', '1', '-t', 'cl/#', '-E'])
    assert.equal(await setup.exited, 0, setup.stderr())
    await pub(mqttPort, version, '-t', 'cl/x', '-m', 'dropped', '-q', '1')
    const back = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-i', `clean-${version}`, '-d', '-q', '1', '-t', 'cl/#', '-C', '1', '-W', '10', '-F', FORMAT])
    await back.granted
    await sleep(200) // proves nothing was queued
    await pub(mqttPort, version, '-t', 'cl/x', '-m', 'fresh', '-q', '1')
    assert.equal(await back.exited, 0, back.stderr())
    assert.deepEqual(back.messages(), ['cl/x|fresh|1|0'])
  })
}

test('mqttv5: -c -x 1 session expires one second after disconnect and its queue with it', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const setup = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv5'), '-c', '-x', '1', '-i', 'short', '-q', '1', '-t', 'ex/#', '-E'])
  assert.equal(await setup.exited, 0, setup.stderr())
  await pub(mqttPort, 'mqttv5', '-t', 'ex/x', '-m', 'expires with the session', '-q', '1')
  await sleep(1600) // past the 1 s Session Expiry Interval
  const back = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv5'), '-c', '-x', '1', '-i', 'short', '-d', '-q', '1', '-t', 'ex/#', '-C', '1', '-W', '10', '-F', FORMAT])
  await back.granted
  await sleep(200) // proves the expired queue is not delivered
  await pub(mqttPort, 'mqttv5', '-t', 'ex/x', '-m', 'after', '-q', '1')
  assert.equal(await back.exited, 0, back.stderr())
  assert.deepEqual(back.messages(), ['ex/x|after|1|0'])
})
