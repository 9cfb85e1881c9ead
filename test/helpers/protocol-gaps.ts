import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import type { IClientOptions } from 'mqtt'
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet'
import { userPropertyOrder } from '../../src/broker/user-properties.js'
import { collect, connectClient, connectWithAck, endClient, expiringSession, refusedCode, sleep, waitFor } from './clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub } from './mosquitto.js'
import { rawConnect } from './raw-client.js'

/**
 * Session resumption, Session Present, will topics, User Property order and assigned client ids,
 * written once and run against one pod (test/protocol/*) and three pods behind HAProxy
 * (test/cluster/protocol-gaps-haproxy.test.ts), where consecutive connections land on different pods.
 */
export interface GapsTarget {
  /** `mqtt://host:port` every client connects to. */
  readonly url: string
  readonly port: number
  /** Client ids are prefixed with it, so runs against one Redis never share a session. */
  readonly prefix: string
  /** How late a session may end after its Session Expiry Interval (a sweep period and some). */
  readonly expirySlackMs: number
}

const V5_TOPIC_NAME_INVALID = 0x90

/** MQTT 5, Clean Start 0, no Session Expiry Interval property: resume, and end with this connection. */
function resumeForThisConnection (clientId: string): IClientOptions {
  return { protocolVersion: 5, clientId, clean: false }
}

async function publisher (t: TestContext, target: GapsTarget, name: string) {
  return await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-${name}-pub` })
}

/** [MQTT-3.1.2-4] [MQTT-3.1.2-23] [MQTT-3.3.2-6]: Clean Start 0 resumes whatever the new Session Expiry. */
export async function sessionResumeScenarios (t: TestContext, target: GapsTarget): Promise<void> {
  await t.test('Clean Start 0 with Session Expiry 0: Session Present 1, the queue delivered with Message Expiry applied, the session ends with the connection', async (t) => {
    const id = `${target.prefix}-resume0`
    const first = await connectClient(t, target.url, expiringSession(id, 60))
    await first.subscribeAsync({ [`${id}/#`]: { qos: 1 } })
    await endClient(first)

    const pub = await publisher(t, target, 'resume0')
    await pub.publishAsync(`${id}/a`, 'expires-in-60', { qos: 1, properties: { messageExpiryInterval: 60 } })
    await pub.publishAsync(`${id}/b`, 'no-expiry', { qos: 1 })
    await pub.publishAsync(`${id}/c`, 'expires-in-1', { qos: 1, properties: { messageExpiryInterval: 1 } })
    await sleep(2100) // the third one expires while queued [MQTT-3.3.2-5]

    const back = await connectWithAck(t, target.url, resumeForThisConnection(id))
    assert.equal(back.connack.sessionPresent, true, 'the session is resumed')
    await waitFor(() => back.got.length >= 2, 5000, 'the queued messages')
    await sleep(300) // proves the expired one does not follow
    assert.deepEqual(back.got.map((m) => m.payload.toString()), ['expires-in-60', 'no-expiry'])
    const remaining = back.got[0]?.packet.properties?.messageExpiryInterval
    assert.ok(typeof remaining === 'number' && remaining <= 58 && remaining >= 50, `remaining Message Expiry Interval forwarded: ${String(remaining)} [MQTT-3.3.2-6]`)
    assert.equal(back.got[1]?.packet.properties?.messageExpiryInterval, undefined, 'no expiry where none was set')
    await endClient(back.client)
    await sleep(200)

    await pub.publishAsync(`${id}/d`, 'after-the-end', { qos: 1 })
    const again = await connectWithAck(t, target.url, expiringSession(id, 60))
    assert.equal(again.connack.sessionPresent, false, 'the session ended with the expiry-0 connection [MQTT-3.1.2-23]')
    await sleep(300)
    assert.deepEqual(again.got.map((m) => m.payload.toString()), [], 'nothing was queued for the ended session')
  })

  await t.test('Clean Start 0 with a new, smaller Session Expiry: resumed with its queue, then ends after the new interval', async (t) => {
    const id = `${target.prefix}-shorter`
    const first = await connectClient(t, target.url, expiringSession(id, 300))
    await first.subscribeAsync({ [`${id}/#`]: { qos: 1 } })
    await endClient(first)
    const pub = await publisher(t, target, 'shorter')
    await pub.publishAsync(`${id}/a`, 'queued', { qos: 1, properties: { messageExpiryInterval: 120 } })

    const back = await connectWithAck(t, target.url, expiringSession(id, 1))
    assert.equal(back.connack.sessionPresent, true)
    await waitFor(() => back.got.length >= 1, 5000, 'the queued message')
    const remaining = back.got[0]?.packet.properties?.messageExpiryInterval
    assert.ok(typeof remaining === 'number' && remaining <= 120 && remaining >= 110, `remaining Message Expiry Interval: ${String(remaining)}`)
    await endClient(back.client)
    await pub.publishAsync(`${id}/b`, 'queued-then-expired-with-the-session', { qos: 1 })
    await sleep(1000 + target.expirySlackMs)

    const again = await connectWithAck(t, target.url, expiringSession(id, 60))
    assert.equal(again.connack.sessionPresent, false, 'the session expired after the new 1 s interval')
    await sleep(300)
    assert.deepEqual(again.got.map((m) => m.payload.toString()), [])
  })

  await t.test('mosquitto_sub -c -x 0 (Clean Start 0, expiry 0) resumes with the queue and the time left, then the session ends', async (t) => {
    const id = `${target.prefix}-mosq-resume0`
    const topic = `${target.prefix}/mosq/resume0`
    const args = (expiry: string): string[] => [...brokerArgs(target.port, 'mqttv5'), '-c', '-x', expiry, '-i', id, '-t', topic, '-q', '1']
    const made = mosquittoSub(t, [...args('60'), '-d', '-E'])
    assert.deepEqual(await made.granted, [1])
    assert.equal(await made.exited, 0)
    const pub = await mosquittoPub([...brokerArgs(target.port, 'mqttv5'), '-q', '1', '-t', topic, '-m', 'queued', '-D', 'publish', 'message-expiry-interval', '60'])
    assert.equal(pub.code, 0, pub.stderr)

    const resumed = mosquittoSub(t, [...args('0'), '-C', '1', '-W', '10', '-F', '%p|%E'])
    assert.equal(await resumed.exited, 0, resumed.stderr())
    const [payload, expiry] = (resumed.messages()[0] ?? '').split('|')
    assert.equal(payload, 'queued')
    assert.ok(Number(expiry) <= 60 && Number(expiry) >= 50, `time left forwarded: ${String(expiry)}`)
    await sleep(200)

    const late = await mosquittoPub([...brokerArgs(target.port, 'mqttv5'), '-q', '1', '-t', topic, '-m', 'after-the-end'])
    assert.equal(late.code, 0, late.stderr)
    const after = mosquittoSub(t, [...args('60'), '-C', '1', '-W', '2', '-F', '%p'])
    await after.exited
    assert.deepEqual(after.messages(), [], 'the session ended with the expiry-0 connection: nothing was queued')
  })

  await t.test('Clean Start 1 with a Session Expiry: Session Present 0 and the queue discarded [MQTT-3.1.2-4]', async (t) => {
    const id = `${target.prefix}-cleanstart`
    const first = await connectClient(t, target.url, expiringSession(id, 60))
    await first.subscribeAsync({ [`${id}/#`]: { qos: 1 } })
    await endClient(first)
    const pub = await publisher(t, target, 'cleanstart')
    await pub.publishAsync(`${id}/a`, 'discarded', { qos: 1 })
    const back = await connectWithAck(t, target.url, { ...expiringSession(id, 60), clean: true })
    assert.equal(back.connack.sessionPresent, false)
    await sleep(300)
    assert.deepEqual(back.got.map((m) => m.payload.toString()), [])
  })
}

/** [MQTT-3.2.2-2]: a session that exists is present, subscriptions or not. */
export async function sessionPresentScenarios (t: TestContext, target: GapsTarget): Promise<void> {
  const present = async (t: TestContext, options: IClientOptions): Promise<boolean> => {
    const { client, connack } = await connectWithAck(t, target.url, options)
    await endClient(client)
    await sleep(100)
    return connack.sessionPresent
  }

  await t.test('MQTT 5: a session without subscriptions is present on reconnect, on every combination of Clean Start and Session Expiry', async (t) => {
    const id = `${target.prefix}-nosubs5`
    assert.equal(await present(t, expiringSession(id, 60)), false, 'first connection: no session yet')
    assert.equal(await present(t, expiringSession(id, 60)), true, 'Clean Start 0: the session (no subscriptions) is present')
    assert.equal(await present(t, { ...expiringSession(id, 60), clean: true }), false, 'Clean Start 1: discarded, a new one made')
    assert.equal(await present(t, expiringSession(id, 60)), true, 'the session made with Clean Start 1 and expiry 60 is present')
    assert.equal(await present(t, resumeForThisConnection(id)), true, 'Clean Start 0, expiry 0: present, and ends with this connection')
    assert.equal(await present(t, expiringSession(id, 60)), false, 'the expiry-0 connection ended it')
    assert.equal(await present(t, expiringSession(id, 1)), true, 'the session just made, resumed with a 1 s interval')
    await sleep(1000 + target.expirySlackMs)
    assert.equal(await present(t, expiringSession(id, 60)), false, 'expired after its 1 s interval')
  })

  await t.test('MQTT 3.1.1: a persistent session without subscriptions is present on reconnect; Clean Session 1 ends it', async (t) => {
    const id = `${target.prefix}-nosubs4`
    const persistent: IClientOptions = { protocolVersion: 4, clientId: id, clean: false }
    assert.equal(await present(t, persistent), false)
    assert.equal(await present(t, persistent), true)
    assert.equal(await present(t, { ...persistent, clean: true }), false)
    assert.equal(await present(t, persistent), false, 'Clean Session 1 discarded the session')
  })

  await t.test('MQTT 5 with Session Expiry 0 from the start: never present', async (t) => {
    const id = `${target.prefix}-nosubs0`
    assert.equal(await present(t, resumeForThisConnection(id)), false)
    assert.equal(await present(t, resumeForThisConnection(id)), false)
  })
}

/** [MQTT-3.1.3-11] [MQTT-4.7.1-1] [MQTT-4.7.3-1]: a will topic is a topic name. */
export async function willTopicScenarios (t: TestContext, target: GapsTarget): Promise<void> {
  const watcher = await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-will-watch` })
  const seen = collect(watcher)
  await watcher.subscribeAsync({ '#': { qos: 1 } })

  for (const topic of ['will/+', 'will/#', '#', '+', 'will/a+b/#']) {
    await t.test(`MQTT 5: will topic ${JSON.stringify(topic)} gets CONNACK 0x90`, async () => {
      const code = await refusedCode(target.url, { protocolVersion: 5, clientId: `${target.prefix}-w5`, will: { topic, payload: Buffer.from('w'), qos: 1, retain: false } })
      assert.equal(code, V5_TOPIC_NAME_INVALID)
    })
    await t.test(`MQTT 3.1.1: will topic ${JSON.stringify(topic)} closes the connection without CONNACK`, async () => {
      const code = await refusedCode(target.url, { protocolVersion: 4, clientId: `${target.prefix}-w4`, will: { topic, payload: Buffer.from('w'), qos: 1, retain: false } })
      assert.equal(code, undefined, 'closed, no return code')
    })
  }

  for (const version of [4, 5] as const) {
    await t.test(`MQTT ${version === 5 ? '5' : '3.1.1'}: an empty will topic is refused the same way [MQTT-4.7.3-1]`, async (t) => {
      const client = await rawConnect(t, target.port, version)
      client.sendBytes(connectWithEmptyWillTopic(version, `${target.prefix}-wempty${version}`))
      if (version === 5) {
        const connack = await client.next<IConnackPacket>('connack')
        assert.equal(connack.reasonCode, V5_TOPIC_NAME_INVALID)
      }
      await client.waitClosed()
      if (version === 4) assert.deepEqual(client.received.map((p) => p.cmd), [], 'closed without CONNACK')
    })
  }

  await t.test('a valid will is still accepted and published', async (t) => {
    const willTopic = `${target.prefix}/will/ok`
    const client = await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-wok`, will: { topic: willTopic, payload: Buffer.from('gone'), qos: 1, retain: false } })
    client.stream.destroy()
    await waitFor(() => seen.some((m) => m.topic === willTopic), 5000, 'the will')
    assert.deepEqual(seen.filter((m) => m.topic.includes('+') || m.topic.includes('#') || m.topic === '').map((m) => m.topic), [], 'no will with a literal wildcard was published')
  })
}

/** A CONNECT whose will topic is empty: mqtt-packet refuses to generate one, so its bytes are edited. */
function connectWithEmptyWillTopic (version: 4 | 5, clientId: string): Buffer {
  const frame = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 30, will: { topic: 'Z', payload: Buffer.from('w'), qos: 0, retain: false } } as Packet, { protocolVersion: version })
  const at = frame.indexOf(Buffer.from([0x00, 0x01, 0x5a]))
  assert.ok(at > 0 && frame[1] !== undefined && frame[1] < 0x80, 'a short CONNECT with the placeholder topic')
  const edited = Buffer.concat([frame.subarray(0, at), Buffer.from([0x00, 0x00]), frame.subarray(at + 3)])
  edited[1] = frame[1] - 1
  return edited
}

const ORDERED = [['a', '1'], ['b', '2'], ['a', '3'], ['c', '4'], ['b', '5']] as const

function userPropertyArgs (): string[] {
  return ORDERED.flatMap(([name, value]) => ['-D', 'publish', 'user-property', name, value])
}

/** The User Properties a packet arrived with, in wire order (as the patched parser records them). */
function wireOrder (packet: { properties?: { userProperties?: Record<string, string | string[]> } }): string[] {
  const props = packet.properties?.userProperties
  if (props === undefined) return []
  const order = userPropertyOrder(packet)
  assert.ok(order !== undefined, 'the parser recorded the order')
  const used = new Map<string, number>()
  return order.map((name) => {
    const value = props[name]
    const i = used.get(name) ?? 0
    used.set(name, i + 1)
    return `${name}=${Array.isArray(value) ? String(value[i]) : String(value)}`
  })
}

const EXPECTED = ORDERED.map(([name, value]) => `${name}=${value}`)

/** [MQTT-3.3.2-18]: User Properties keep their order, repeated names included, on every path. */
export async function userPropertyScenarios (t: TestContext, target: GapsTarget): Promise<void> {
  const pubArgs = (topic: string): string[] => [...brokerArgs(target.port, 'mqttv5'), '-q', '1', '-t', topic, '-m', 'x', ...userPropertyArgs()]

  await t.test('live: mosquitto_pub → mosquitto_sub and mqtt.js subscribers, in order', async (t) => {
    const topic = `${target.prefix}/up/live`
    const sub = mosquittoSub(t, [...brokerArgs(target.port, 'mqttv5'), '-d', '-t', topic, '-q', '1', '-C', '1', '-W', '10', '-F', '%P'])
    await sub.granted
    const js = await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-up-live` })
    const got = collect(js)
    await js.subscribeAsync({ [topic]: { qos: 1 } })
    const pub = await mosquittoPub(pubArgs(topic))
    assert.equal(pub.code, 0, pub.stderr)
    await sub.exited
    assert.deepEqual(sub.messages(), [ORDERED.map(([n, v]) => `${n}:${v}`).join(' ')], 'mosquitto_sub prints them in wire order')
    await waitFor(() => got.length >= 1, 5000, 'the message at mqtt.js')
    assert.deepEqual(wireOrder(got[0]?.packet ?? {}), EXPECTED)
    assert.deepEqual({ ...got[0]?.packet.properties?.userProperties }, { a: ['1', '3'], b: ['2', '5'], c: '4' }, 'the object form mqtt.js users read is unchanged')
  })

  await t.test('offline queue: a resumed session gets them in order', async (t) => {
    const id = `${target.prefix}-up-queue`
    const topic = `${target.prefix}/up/queue`
    const first = await connectClient(t, target.url, expiringSession(id, 60))
    await first.subscribeAsync({ [topic]: { qos: 1 } })
    await endClient(first)
    const pub = await mosquittoPub(pubArgs(topic))
    assert.equal(pub.code, 0, pub.stderr)
    const back = await connectWithAck(t, target.url, expiringSession(id, 60))
    await waitFor(() => back.got.length >= 1, 5000, 'the queued message')
    assert.deepEqual(wireOrder(back.got[0]?.packet ?? {}), EXPECTED)
  })

  await t.test('retained: a later subscriber gets them in order', async (t) => {
    const topic = `${target.prefix}/up/retained`
    const pub = await mosquittoPub([...pubArgs(topic), '-r'])
    assert.equal(pub.code, 0, pub.stderr)
    const late = await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-up-late` })
    const got = collect(late)
    await late.subscribeAsync({ [topic]: { qos: 1 } })
    await waitFor(() => got.length >= 1, 5000, 'the retained message')
    assert.equal(got[0]?.packet.retain, true)
    assert.deepEqual(wireOrder(got[0]?.packet ?? {}), EXPECTED)
  })

  await t.test('will (mosquitto_sub --will-topic, -D will user-property, delayed 1 s): published in order', async (t) => {
    const topic = `${target.prefix}/up/will`
    const js = await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-up-will-watch` })
    const got = collect(js)
    await js.subscribeAsync({ [topic]: { qos: 1 } })
    const willProps = ORDERED.flatMap(([name, value]) => ['-D', 'will', 'user-property', name, value])
    const dying = mosquittoSub(t, [...brokerArgs(target.port, 'mqttv5'), '-d', '-c', '-x', '60', '-i', `${target.prefix}-up-will`, '-t', `${topic}/unused`,
      '--will-topic', topic, '--will-payload', 'gone', '--will-qos', '1', '-D', 'will', 'will-delay-interval', '1', ...willProps])
    await dying.granted
    dying.process.kill('SIGKILL') // no DISCONNECT: the will is due after its delay
    // In a cluster the delayed will is swept by any pod: the one the client left or another, from Redis.
    await waitFor(() => got.length >= 1, 8000, 'the will')
    assert.equal(got[0]?.payload.toString(), 'gone')
    assert.deepEqual(wireOrder(got[0]?.packet ?? {}), EXPECTED)
  })

  await t.test('shared subscription: the group member gets them in order', async (t) => {
    const topic = `${target.prefix}/up/shared`
    const member = await connectClient(t, target.url, { protocolVersion: 5, clientId: `${target.prefix}-up-member` })
    const got = collect(member)
    await member.subscribeAsync({ [`$share/g/${topic}`]: { qos: 1 } })
    await sleep(300) // the group reaches every pod
    const pub = await mosquittoPub(pubArgs(topic))
    assert.equal(pub.code, 0, pub.stderr)
    await waitFor(() => got.length >= 1, 5000, 'the group message')
    assert.deepEqual(wireOrder(got[0]?.packet ?? {}), EXPECTED)
  })
}

/** MQTT 5 §3.2.2.3.7, [MQTT-3.1.3-5]: an assigned client id is 1–23 characters of [0-9a-zA-Z]. */
export async function assignedClientIdScenarios (t: TestContext, target: GapsTarget): Promise<void> {
  await t.test('MQTT 5: an empty client id gets a Starling id any server accepts', async (t) => {
    const { connack } = await connectWithAck(t, target.url, { protocolVersion: 5, clientId: '' })
    const assigned = connack.properties?.assignedClientIdentifier
    assert.ok(typeof assigned === 'string' && /^starling[0-9a-zA-Z]{15}$/.test(assigned), `assigned: ${String(assigned)}`)
    const second = await connectWithAck(t, target.url, { protocolVersion: 5, clientId: '' })
    assert.notEqual(second.connack.properties?.assignedClientIdentifier, assigned, 'each one new')
  })

  await t.test('MQTT 3.1.1: an empty client id with Clean Session 1 is accepted', async (t) => {
    const { connack } = await connectWithAck(t, target.url, { protocolVersion: 4, clientId: '', clean: true })
    assert.equal(connack.returnCode, 0)
  })
}
