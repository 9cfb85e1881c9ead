import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub } from '../helpers/mosquitto.js'
import { startTestNode } from '../helpers/node.js'

// MQTT 5 properties set with mosquitto_pub -D publish ... and printed by a v5 mosquitto_sub -F
// (%P user properties, %C content type, %R response topic, %D correlation data, %E message
// expiry, %F payload format, %S subscription identifier), topic aliases from mosquitto_pub.
// mosquitto_sub 2.0.11 has no no-local or retain-handling flags (only --retain-as-published,
// covered in mosquitto-retained.test.ts).

const V5 = 'mqttv5'

test('publish properties from mosquitto_pub -D reach a v5 mosquitto_sub and an mqtt.js v5 client unchanged', async (t) => {
  const { mqttPort, url } = await startTestNode(t)
  const sub = mosquittoSub(t, [...brokerArgs(mqttPort, V5), '-d', '-t', 'props/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p|%P|%C|%R|%D|%E|%F'])
  await sub.granted
  const js = await connectClient(t, url, { protocolVersion: 5, clientId: 'js-props' })
  const got = collect(js)
  await js.subscribeAsync('props/#', { qos: 1 })
  const pub = await mosquittoPub([...brokerArgs(mqttPort, V5), '-t', 'props/x', '-m', 'ping', '-q', '1',
    '-D', 'publish', 'user-property', 'trace', 't-1', '-D', 'publish', 'user-property', 'trace', 't-2',
    '-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'response-topic', 'props/reply',
    '-D', 'publish', 'correlation-data', 'req-7', '-D', 'publish', 'message-expiry-interval', '120',
    '-D', 'publish', 'payload-format-indicator', '1'])
  assert.equal(pub.code, 0, pub.stderr)
  assert.equal(await sub.exited, 0, sub.stderr())
  // Duplicate user property keys keep their order; the expiry interval forwarded is the time left
  // (120, or 119 if a second boundary was crossed) [MQTT-3.3.2-6].
  const line = sub.messages()[0] ?? ''
  assert.match(line, /^props\/x\|ping\|trace:t-1 trace:t-2\|text\/plain\|props\/reply\|req-7\|(120|119)\|1$/)
  await waitFor(() => got.length === 1, 5000, 'the mqtt.js copy')
  const properties = got[0]?.packet.properties
  assert.deepEqual({ ...properties?.userProperties }, { trace: ['t-1', 't-2'] })
  assert.equal(properties?.contentType, 'text/plain')
  assert.equal(properties?.responseTopic, 'props/reply')
  assert.equal(properties?.correlationData?.toString(), 'req-7')
  assert.equal(properties?.payloadFormatIndicator, true)
})

test('properties are dropped for a 3.1.1 mosquitto_sub but the message still arrives', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const sub = mosquittoSub(t, [...brokerArgs(mqttPort, 'mqttv311'), '-d', '-t', 'props/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p|%q|[%P%C%R]'])
  await sub.granted
  await mosquittoPub([...brokerArgs(mqttPort, V5), '-t', 'props/y', '-m', 'plain', '-q', '1',
    '-D', 'publish', 'user-property', 'k', 'v', '-D', 'publish', 'content-type', 'text/plain'])
  assert.equal(await sub.exited, 0, sub.stderr())
  assert.deepEqual(sub.messages(), ['props/y|plain|1|[]'])
})

test('mqtt.js v5 publisher properties are printed by a v5 mosquitto_sub', async (t) => {
  const { mqttPort, url } = await startTestNode(t)
  const sub = mosquittoSub(t, [...brokerArgs(mqttPort, V5), '-d', '-t', 'js/#', '-q', '2', '-C', '1', '-W', '10', '-F', '%t|%p|%q|%P|%C|%R|%D'])
  await sub.granted
  const js = await connectClient(t, url, { protocolVersion: 5, clientId: 'js-pub' })
  await js.publishAsync('js/req', 'body', {
    qos: 2,
    properties: { userProperties: { a: '1', b: ['2', '3'] }, contentType: 'application/cbor', responseTopic: 'js/resp', correlationData: Buffer.from('c9') }
  })
  assert.equal(await sub.exited, 0, sub.stderr())
  assert.deepEqual(sub.messages(), ['js/req|body|2|a:1 b:2 b:3|application/cbor|js/resp|c9'])
})

test('an expired message is not delivered from an offline v5 session queue', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const session = [...brokerArgs(mqttPort, V5), '-c', '-x', '60', '-i', 'expiry', '-q', '1', '-t', 'exp/#']
  const setup = mosquittoSub(t, [...session, '-E'])
  assert.equal(await setup.exited, 0, setup.stderr())
  await mosquittoPub([...brokerArgs(mqttPort, V5), '-t', 'exp/short', '-m', 'expires', '-q', '1', '-D', 'publish', 'message-expiry-interval', '1'])
  await mosquittoPub([...brokerArgs(mqttPort, V5), '-t', 'exp/long', '-m', 'stays', '-q', '1', '-D', 'publish', 'message-expiry-interval', '100'])
  await sleep(2100) // let the 1 s expiry pass
  const back = mosquittoSub(t, [...session, '-C', '1', '-W', '10', '-F', '%t|%p|%E'])
  assert.equal(await back.exited, 0, back.stderr())
  // [MQTT-3.3.2-5] the expired message is not sent; the other carries its remaining lifetime.
  const [line] = back.messages()
  assert.match(line ?? '', /^exp\/long\|stays\|9[7-9]$/)
})

test('-D subscribe subscription-identifier 5 is echoed as %S on matching messages', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const sub = mosquittoSub(t, [...brokerArgs(mqttPort, V5), '-d', '-t', 'sid/#', '-q', '1', '-D', 'subscribe', 'subscription-identifier', '5', '-C', '1', '-W', '10', '-F', '%t|%p|%S'])
  await sub.granted
  await mosquittoPub([...brokerArgs(mqttPort, 'mqttv311'), '-t', 'sid/x', '-m', 'tagged', '-q', '1'])
  assert.equal(await sub.exited, 0, sub.stderr())
  assert.deepEqual(sub.messages(), ['sid/x|tagged|5'])
})

test('mosquitto_pub -D publish topic-alias: later publishes with an empty topic and the alias arrive on the aliased topic', async (t) => {
  const { mqttPort } = await startTestNode(t)
  const subs = (['mqttv311', V5] as const).map((v) => mosquittoSub(t, [...brokerArgs(mqttPort, v), '-d', '-t', 'alias/#', '-q', '1', '-C', '6', '-W', '10', '-F', '%t|%p|%q']))
  for (const sub of subs) await sub.granted
  // --repeat: the first PUBLISH carries topic + alias 1, the next two only alias 1 (mosquitto_pub
  // sends a zero-length topic once the alias is set); -l does the same for each stdin line.
  const repeat = await mosquittoPub([...brokerArgs(mqttPort, V5), '-d', '-t', 'alias/one', '-m', 'again', '-q', '1', '--repeat', '3', '-D', 'publish', 'topic-alias', '1'])
  assert.equal(repeat.code, 0, repeat.stderr)
  assert.equal(repeat.stdout.match(/sending PUBLISH \(.*'\(null\)'/g)?.length, 2, repeat.stdout)
  const lines = await mosquittoPub([...brokerArgs(mqttPort, V5), '-t', 'alias/two', '-l', '-q', '1', '-D', 'publish', 'topic-alias', '2'], 10000, 'l1\nl2\nl3\n')
  assert.equal(lines.code, 0, lines.stderr)
  const expected = ['alias/one|again|1', 'alias/one|again|1', 'alias/one|again|1', 'alias/two|l1|1', 'alias/two|l2|1', 'alias/two|l3|1']
  for (const sub of subs) {
    assert.equal(await sub.exited, 0, sub.stderr())
    assert.deepEqual(sub.messages(), expected)
  }
})

test('a topic alias above the broker\'s Topic Alias Maximum closes the connection; nothing is delivered', async (t) => {
  const { mqttPort } = await startTestNode(t, { 'limits.topicAliasMaximum': 2 })
  const sub = mosquittoSub(t, [...brokerArgs(mqttPort, V5), '-d', '-t', 'alias/#', '-q', '1', '-C', '1', '-W', '10', '-F', '%t|%p'])
  await sub.granted
  const pub = await mosquittoPub([...brokerArgs(mqttPort, V5), '-d', '-t', 'alias/x', '-m', 'too high', '-q', '1', '-D', 'publish', 'topic-alias', '3'])
  // mosquitto_pub does not check the alias itself. The broker must close the connection
  // [MQTT-3.3.2-9, MQTT-4.13.1-1]; it MAY send DISCONNECT 0x94 first, which mosquitto_pub prints
  // as "Received DISCONNECT (148)", otherwise it reports "The connection was lost" (exit 7).
  assert.match(`${pub.stdout}${pub.stderr}`, /Received DISCONNECT \(148\)|The connection was lost/)
  assert.notEqual(pub.code, 0)
  assert.doesNotMatch(pub.stdout, /received PUBACK/)
  await mosquittoPub([...brokerArgs(mqttPort, V5), '-t', 'alias/ok', '-m', 'next', '-q', '1'])
  assert.equal(await sub.exited, 0, sub.stderr())
  assert.deepEqual(sub.messages(), ['alias/ok|next'])
})
