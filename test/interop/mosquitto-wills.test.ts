import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sleep } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub, type MqttVersion } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'

// Will messages set with mosquitto_sub --will-* (and -D will ... in MQTT 5), published when the
// holder process is SIGKILLed, and not published after a clean DISCONNECT.

const FORMAT = '%t|%p|%q|%r'
const VERSIONS: readonly MqttVersion[] = ['mqttv311', 'mqttv5']

for (const version of VERSIONS) {
  const other: MqttVersion = version === 'mqttv5' ? 'mqttv311' : 'mqttv5'

  test(`${version}: SIGKILL of a mosquitto_sub holding a will publishes it; --will-retain keeps it for later ${other} subscribers`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const watcher = mosquittoSub(t, [...brokerArgs(mqttPort, other), '-d', '-t', 'will/#', '-q', '2', '-C', '1', '-W', '10', '-F', FORMAT])
    await watcher.granted
    const holder = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-i', `holder-${version}`, '-t', 'nothing/here',
      '--will-topic', 'will/holder', '--will-payload', 'holder died', '--will-qos', '1', '--will-retain'])
    await holder.granted
    holder.process.kill('SIGKILL')
    assert.equal(await watcher.exited, 0, watcher.stderr())
    assert.deepEqual(watcher.messages(), ['will/holder|holder died|1|0'])

    const later = mosquittoSub(t, [...brokerArgs(mqttPort, other), '-t', 'will/#', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT])
    assert.equal(await later.exited, 0, later.stderr())
    assert.deepEqual(later.messages(), ['will/holder|holder died|1|1'])
  })

  test(`${version}: a holder that disconnects cleanly (-C 1) does not publish its will`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const watcher = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'will/#', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT])
    await watcher.granted
    const holder = mosquittoSub(t, [...brokerArgs(mqttPort, version), '-d', '-t', 'poke', '-C', '1', '-W', '10',
      '--will-topic', 'will/polite', '--will-payload', 'must not appear', '--will-qos', '1'])
    await holder.granted
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'poke', '-m', 'bye'])
    assert.equal(await holder.exited, 0, holder.stderr())
    await sleep(300) // proves the will is not sent
    await mosquittoPub([...brokerArgs(mqttPort, version), '-t', 'will/marker', '-m', 'end', '-q', '1'])
    assert.equal(await watcher.exited, 0, watcher.stderr())
    assert.deepEqual(watcher.messages(), ['will/marker|end|1|0'])
  })
}

test('mqttv5: will properties (-D will content-type / user-property / response-topic) reach a v5 mosquitto_sub', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const watcher = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv5'), '-d', '-t', 'will/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p|%C|%P|%R'])
  await watcher.granted
  const holder = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv5'), '-d', '-t', 'nothing/here',
    '--will-topic', 'will/props', '--will-payload', '{"state":"offline"}', '--will-qos', '1',
    '-D', 'will', 'content-type', 'application/json', '-D', 'will', 'user-property', 'device', 'd42',
    '-D', 'will', 'response-topic', 'reply/d42'])
  await holder.granted
  holder.process.kill('SIGKILL')
  assert.equal(await watcher.exited, 0, watcher.stderr())
  assert.deepEqual(watcher.messages(), ['will/props|{"state":"offline"}|application/json|device:d42|reply/d42'])
})

test('mqttv5: -D will will-delay-interval 2 delays the will by about 2 s, for v5 and 3.1.1 watchers', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const watchers = VERSIONS.map((v) => mosquittoSub(t, [...brokerArgs(mqttPort, v), '-d', '-t', 'will/#', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT]))
  for (const w of watchers) await w.granted
  const holder = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv5'), '-d', '-i', 'delayed', '-x', '30', '-t', 'nothing/here',
    '--will-topic', 'will/delayed', '--will-payload', 'late', '--will-qos', '1', '-D', 'will', 'will-delay-interval', '2'])
  await holder.granted
  const killedAt = Date.now()
  holder.process.kill('SIGKILL')
  const arrived = await Promise.all(watchers.map(async (w) => { await w.exited; return Date.now() - killedAt }))
  for (const [i, w] of watchers.entries()) {
    assert.deepEqual(w.messages(), ['will/delayed|late|1|0'], `${VERSIONS[i] ?? ''} watcher: ${w.stderr()}`)
    assert.ok((arrived[i] ?? 0) >= 1800, `will arrived after ${arrived[i] ?? 0} ms, expected ≥ 2 s`)
  }
})

test('mqttv5: reconnecting within the will delay cancels the will', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const watcher = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv311'), '-d', '-t', 'will/#', '-q', '1', '-C', '1', '-W', '10', '-F', FORMAT])
  await watcher.granted
  const willArgs = [...brokerArgs(mqttPort, 'mqttv5'), '-d', '-c', '-i', 'flaky', '-x', '30', '-t', 'nothing/here',
    '--will-topic', 'will/flaky', '--will-payload', 'must not appear', '-D', 'will', 'will-delay-interval', '1']
  const first = mosquittoSub(t, willArgs)
  await first.granted
  first.process.kill('SIGKILL')
  const second = mosquittoSub(t, willArgs)
  await second.granted
  await sleep(1500) // past the 1 s will delay: proves the will was cancelled by the reconnect
  await mosquittoPub([...brokerArgs(mqttPort, 'mqttv311'), '-t', 'will/marker', '-m', 'end', '-q', '1'])
  assert.equal(await watcher.exited, 0, watcher.stderr())
  assert.deepEqual(watcher.messages(), ['will/marker|end|1|0'])
})
