import assert from 'node:assert/strict'
import { test, type TestContext } from 'node:test'
import mqtt, { type IClientOptions } from 'mqtt'
import mqttPacket, { type IDisconnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectClient, endClient, persistentSession, sleep, stopClient, waitFor } from '../helpers/clients.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { rawMqttConnect, type RawClient } from '../helpers/raw-client.js'
import { startRedis } from '../helpers/redis.js'

// Persistent sessions and client ids are cluster-wide: a session made on one pod resumes on
// another with its queued messages, and a client id connecting anywhere takes the session over.

type Version = 4 | 5

function publishes (client: RawClient): IPublishPacket[] {
  return client.received.filter((p): p is IPublishPacket => p.cmd === 'publish')
}

function ids (client: RawClient, cmd: Packet['cmd']): number[] {
  return client.received.filter((p) => p.cmd === cmd).map((p) => (p as { messageId: number }).messageId)
}

function ackAll (client: RawClient, version: Version, cmd: 'pubrec' | 'pubcomp' | 'puback', messageIds: readonly number[]): void {
  client.sendBytes(Buffer.concat(messageIds.map((messageId) => mqttPacket.generate({ cmd, messageId } as Packet, { protocolVersion: version }))))
}

/** (Re)connects a persistent session on `pod` with a raw client that acknowledges nothing by itself. */
async function rawSession (t: TestContext, pod: Pod, version: Version, clientId: string): Promise<{ client: RawClient, sessionPresent: boolean }> {
  const connect = version === 5
    ? { protocolVersion: 5 as const, clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
    : { protocolVersion: 4 as const, clientId, clean: false }
  const { client, connack } = await rawMqttConnect(t, pod.mqttPort, connect as never)
  return { client, sessionPresent: (connack as { sessionPresent: boolean }).sessionPresent }
}

/**
 * Reconnects a session with mqtt.js and records the PUBLISH packets in the order they arrive on
 * the wire (mqtt.js emits 'message' for QoS 2 only after the PUBREL, which reorders mixed QoS).
 */
function resumeRecording (t: TestContext, url: string, options: IClientOptions): IPublishPacket[] {
  const got: IPublishPacket[] = []
  const client = mqtt.connect(url, { reconnectPeriod: 0, ...options })
  t.after(() => stopClient(client))
  client.on('packetreceive', (packet) => { if (packet.cmd === 'publish') got.push(packet) })
  return got
}

/** Drops the socket and gives the pod a moment to store what the client acknowledged. */
async function leave (client: RawClient): Promise<void> {
  await sleep(150)
  client.destroy()
  await sleep(150)
}

test('cluster: sessions and client ids across pods', async (t) => {
  const redis = await startRedis(t)
  const [a, b, c] = await startPods(t, ['pod-a', 'pod-b', 'pod-c'], { redisUrl: redis.url })
  assert.ok(a !== undefined && b !== undefined && c !== undefined)

  for (const version of [4, 5] as const) {
    await t.test(`${version}: a session made on A, offline QoS 1/2 messages published via B, resumed on C: all arrive in order, once`, async (t) => {
      const id = `roam-${version}`
      const first = await connectClient(t, a.url, persistentSession(version, id))
      await first.subscribeAsync({ 'roam/#': { qos: 2 } })
      await endClient(first)

      const pub = await connectClient(t, b.url, { protocolVersion: 5, clientId: `roam-pub-${version}` })
      const sent: string[] = []
      for (let i = 0; i < 10; i++) {
        const qos = i % 2 === 0 ? 1 : 2
        await pub.publishAsync(`roam/${i}`, `m${i}`, { qos })
        sent.push(`m${i} q${qos}`)
      }

      const got = resumeRecording(t, c.url, persistentSession(version, id))
      await waitFor(() => got.length >= sent.length, 8000, 'the queued messages on C')
      await sleep(300) // proves no duplicate follows
      assert.deepEqual(got.map((p) => `${p.payload.toString()} q${p.qos}`), sent, 'in publish order, each once')
    })

    await t.test(`${version}: QoS 2 interrupted between PUBREC and PUBCOMP resumes on another pod with the PUBRELs only [MQTT-4.4.0-1] [MQTT-4.3.3-1]`, async (t) => {
      const id = `q2x-${version}`
      const { client: made } = await rawSession(t, a, version, id)
      made.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2x/#', qos: 2 }] } as Packet)
      await made.next('suback')
      await leave(made)

      const pub = await connectClient(t, b.url, { protocolVersion: 5, clientId: `q2x-pub-${version}` })
      for (const payload of ['a', 'b', 'c']) await pub.publishAsync('q2x/t', payload, { qos: 2 })

      const { client: onC } = await rawSession(t, c, version, id)
      await waitFor(() => publishes(onC).length === 3, 5000, 'the queued QoS 2 messages on C')
      const sent = publishes(onC)
      assert.deepEqual(sent.map((p) => p.payload.toString()), ['a', 'b', 'c'])
      const publishIds = sent.map((p) => p.messageId as number)
      assert.equal(new Set(publishIds).size, 3, 'distinct packet identifiers')
      // PUBREC the first two (one TCP write), leave before any PUBCOMP.
      ackAll(onC, version, 'pubrec', publishIds.slice(0, 2))
      await waitFor(() => ids(onC, 'pubrel').length >= 2, 5000, 'the PUBRELs on C')
      assert.deepEqual(ids(onC, 'pubrel').sort(), publishIds.slice(0, 2).sort(), 'one PUBREL per PUBREC, with its own id')
      await leave(onC)

      const { client: onA, sessionPresent } = await rawSession(t, a, version, id)
      assert.equal(sessionPresent, true)
      await waitFor(() => ids(onA, 'pubrel').length >= 2 && publishes(onA).length >= 1, 5000, 'the resent PUBRELs and PUBLISH on A')
      await sleep(200) // proves nothing else follows
      assert.deepEqual(ids(onA, 'pubrel').sort(), publishIds.slice(0, 2).sort(), 'the PUBRELs, with their ids')
      assert.deepEqual(publishes(onA).map((p) => [p.payload.toString(), p.messageId, p.dup]), [['c', publishIds[2], true]], 'only the unacknowledged PUBLISH, DUP=1, same id')
      ackAll(onA, version, 'pubcomp', publishIds.slice(0, 2))
      ackAll(onA, version, 'pubrec', [publishIds[2] as number])
      await waitFor(() => ids(onA, 'pubrel').length >= 3, 5000, 'the third PUBREL')
      ackAll(onA, version, 'pubcomp', [publishIds[2] as number])
      await leave(onA)

      const { client: onB } = await rawSession(t, b, version, id)
      await sleep(400) // proves nothing is redelivered
      assert.deepEqual(onB.received.filter((p) => p.cmd !== 'connack').map((p) => p.cmd), [], 'exactly once: nothing comes back')
    })
  }

  await t.test('5: the same client id connecting on B takes over: the connection on A gets DISCONNECT 0x8E [MQTT-3.1.4-3]', async (t) => {
    const onA = await connectClient(t, a.url, { protocolVersion: 5, clientId: 'takeover-1' })
    let reason: number | undefined
    onA.on('disconnect', (packet: IDisconnectPacket) => { reason = packet.reasonCode })
    let closedA = false
    onA.on('close', () => { closedA = true })
    const onB = await connectClient(t, b.url, { protocolVersion: 5, clientId: 'takeover-1' })
    await waitFor(() => closedA, 5000, 'the connection on A to close')
    assert.equal(reason, 0x8e, 'DISCONNECT Session taken over')
    assert.equal(onB.connected, true, 'the newcomer on B stays connected')
    await sleep(200)
    assert.equal(onB.connected, true, 'and is not closed by the takeover in return')
  })

  await t.test('takeovers in quick succession across pods: the newest connection always stays, each older one is closed [MQTT-3.1.4-3]', async (t) => {
    // Each CONNECT follows the previous CONNACK at once, on another pod: a pod may hear the other
    // pod's announcement of the older connection after its own newer one registered.
    const order = [a, b, c, a, c, b, a, b, c, a, c, b]
    const clients: Array<{ client: mqtt.MqttClient, closed: boolean }> = []
    for (const pod of order) {
      const client = await connectClient(t, pod.url, { protocolVersion: 5, clientId: 'takeover-rapid', reconnectPeriod: 0 })
      const entry = { client, closed: false }
      client.on('close', () => { entry.closed = true })
      clients.push(entry)
    }
    await waitFor(() => clients.slice(0, -1).every((e) => e.closed), 5000, 'every older connection to close')
    await sleep(300)
    assert.equal(clients.at(-1)?.client.connected, true, 'the newest connection stays connected')
  })

  await t.test('3.1.1: the same client id connecting on C closes the connection on B', async (t) => {
    const onB = await connectClient(t, b.url, { protocolVersion: 4, clientId: 'takeover-2' })
    let closedB = false
    onB.on('close', () => { closedB = true })
    const onC = await connectClient(t, c.url, { protocolVersion: 4, clientId: 'takeover-2' })
    await waitFor(() => closedB, 5000, 'the connection on B to close')
    await sleep(200)
    assert.equal(onC.connected, true)
  })
})
