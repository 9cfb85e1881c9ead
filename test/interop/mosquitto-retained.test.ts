import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sleep, waitFor } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub, type MqttVersion } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'

// Retained messages through mosquitto_pub -r / -r -n and mosquitto_sub's retained options
// (-R, --retained-only, --remove-retained, --retain-as-published), in both protocol versions.

const FORMAT = '%t|%p|%q|%r' // topic | payload | QoS | retain flag
const VERSIONS: readonly MqttVersion[] = ['mqttv311', 'mqttv5']

async function pub (port: number, version: MqttVersion, ...args: string[]): Promise<void> {
  const result = await mosquittoPub([...brokerArgs(port, version), ...args])
  assert.equal(result.code, 0, result.stderr)
}

for (const version of VERSIONS) {
  const other: MqttVersion = version === 'mqttv5' ? 'mqttv311' : 'mqttv5'

  test(`retained set and replaced by ${version} mosquitto_pub -r reach a later ${other} mosquitto_sub with retain=1 at min(QoS)`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    await pub(mqttPort, version, '-t', 'r/a', '-m', 'first', '-r', '-q', '1')
    await pub(mqttPort, version, '-t', 'r/a', '-m', 'second', '-r', '-q', '1')
    await pub(mqttPort, version, '-t', 'r/b', '-m', 'bee', '-r', '-q', '2')
    const q2 = mosquittoSub(t, [...brokerArgs(mqttPort, other), '-t', 'r/#', '-q', '2', '-C', '2', '-W', '10', '-F', FORMAT])
    const q0 = mosquittoSub(t, [...brokerArgs(mqttPort, other), '-t', 'r/b', '-q', '0', '-C', '1', '-W', '10', '-F', FORMAT])
    assert.equal(await q2.exited, 0, q2.stderr())
    assert.equal(await q0.exited, 0, q0.stderr())
    assert.deepEqual([...q2.messages()].sort(), ['r/a|second|1|1', 'r/b|bee|2|1'])
    assert.deepEqual(q0.messages(), ['r/b|bee|0|1'])
  })

  test(`${version}: -r -n clears a retained message; current subscribers still get the empty publish`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    await pub(mqttPort, version, '-t', 'c/gone', '-m', 'old', '-r', '-q', '1')
    await pub(mqttPort, version, '-t', 'c/kept', '-m', 'kept', '-r', '-q', '1')
    const live = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-R', '-t', 'c/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|[%p]|%l|%r'])
    await live.granted
    await pub(mqttPort, version, '-t', 'c/gone', '-r', '-n', '-q', '1')
    assert.equal(await live.exited, 0, live.stderr())
    assert.deepEqual(live.messages(), ['c/gone|[]|0|0'])

    const later = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'c/#', '-q', '1', '--retained-only', '-W', '10', '-F', FORMAT])
    await later.granted
    await waitFor(() => later.messages().length >= 1, 5000, 'the kept retained message')
    await sleep(200) // proves c/gone is not delivered
    await pub(mqttPort, version, '-t', 'c/fresh', '-m', 'ends --retained-only') // first non-retained message: exit
    assert.equal(await later.exited, 0, later.stderr())
    assert.deepEqual(later.messages(), ['c/kept|kept|1|1'])
  })

  test(`${version}: mosquitto_sub -R skips retained messages and prints only fresh ones`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    await pub(mqttPort, version, '-t', 'f/x', '-m', 'stale', '-r', '-q', '1')
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-R', '-t', 'f/#', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT])
    await sub.granted
    await pub(mqttPort, version, '-t', 'f/x', '-m', 'fresh', '-q', '1')
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['f/x|fresh|1|0'])
  })

  test(`${version}: --remove-retained --retained-only empties a retained tree`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    for (const topic of ['tree/a', 'tree/b/c', 'tree/d']) await pub(mqttPort, version, '-t', topic, '-m', topic, '-r', '-q', '1')
    await pub(mqttPort, version, '-t', 'other/x', '-m', 'untouched', '-r', '-q', '1')
    const cleaner = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'tree/#', '-q', '1', '--remove-retained', '--retained-only', '-W', '10', '-F', '%t'])
    await cleaner.granted
    // It answers each retained message with an empty retained QoS 1 publish; the broker acks all
    // three. (mosquitto_sub 2.0.11 then fails to exit on --retained-only, a client quirk: it only
    // disconnects if the last PUBACK comes after the first fresh message, so we stop it.)
    await waitFor(() => cleaner.lines.filter((l) => / received PUBACK /.test(l)).length === 3, 5000, 'three PUBACKs')
    assert.deepEqual([...cleaner.messages()].sort(), ['tree/a', 'tree/b/c', 'tree/d'])
    cleaner.process.kill('SIGTERM')
    await cleaner.exited

    const check = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'tree/#', '-t', 'other/#', '-q', '1', '--retained-only', '-W', '10', '-F', FORMAT])
    await check.granted
    await waitFor(() => check.messages().length >= 1, 5000, 'the untouched retained message')
    await sleep(200) // proves the tree stays empty
    await pub(mqttPort, version, '-t', 'other/live', '-m', 'stop')
    assert.equal(await check.exited, 0, check.stderr())
    assert.deepEqual(check.messages(), ['other/x|untouched|1|1'])
  })

  test(`${version}: a retained publish forwarded live has retain=0 (no retain-as-published)`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const sub = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'l/#', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT])
    await sub.granted
    await pub(mqttPort, other, '-t', 'l/x', '-m', 'live', '-r', '-q', '1')
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), ['l/x|live|1|0'])
  })
}

test('mqttv5 --retain-as-published keeps retain=1 on live retained publishes, 0 on plain ones', async (t) => {
  const { mqttPort } = await startTestNode(t)
  await pub(mqttPort, 'mqttv5', '-t', 'rap/old', '-m', 'stored', '-r', '-q', '1')
  const sub = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv5'), '-d', '--retain-as-published', '-t', 'rap/#', '-q', '1', '-C', '3', '-W', '10', '-F', FORMAT])
  await sub.granted
  await waitFor(() => sub.messages().length === 1, 5000, 'the stored retained message')
  await pub(mqttPort, 'mqttv311', '-t', 'rap/live', '-m', 'kept flag', '-r', '-q', '1')
  await pub(mqttPort, 'mqttv5', '-t', 'rap/plain', '-m', 'no flag', '-q', '1')
  assert.equal(await sub.exited, 0, sub.stderr())
  assert.deepEqual(sub.messages(), ['rap/old|stored|1|1', 'rap/live|kept flag|1|1', 'rap/plain|no flag|1|0'])
})
