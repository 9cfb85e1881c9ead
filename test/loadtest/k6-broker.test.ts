import assert from 'node:assert/strict'
import { test } from 'node:test'
import { WebSocket } from 'ws'
import { encode, type MqttPacket } from '../../loadtest/k6/lib/mqtt-codec.js'
import { MqttDecoder } from '../../loadtest/k6/lib/mqtt-stream.js'
import { readStamp, stampPayload } from '../../loadtest/k6/lib/payload.js'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { openWsSession, subscribe } from './k6-ws-session.js'

const te = new TextEncoder()
const td = new TextDecoder()
/** Nodes destroy leftover test connections at close instead of waiting out a drain. */
const FAST_CLOSE = { drainSeconds: 0 }

test('the k6 session connects over WebSocket in 3.1.1 and 5, subscribes, pings and disconnects', async (t) => {
  const { node, logs } = await startTestNode(t, FAST_CLOSE)
  const url = `ws://127.0.0.1:${node.port('ws')}/mqtt`
  for (const version of [4, 5] as const) {
    const s = await openWsSession(t, url, { clientId: `k6-conn-${version}`, version, keepaliveSec: 10 })
    assert.equal(s.connack?.reasonCode, 0)
    assert.equal(s.session.state, 'connected')
    if (version === 5) assert.ok((s.connack?.properties?.receiveMaximum ?? 0) > 0, 'MQTT 5 CONNACK properties decoded')
    assert.deepEqual(await subscribe(s, `k6/${version}/#`, 1), [1])
    // Keep-alive: once 3/4 of the keep alive passed without sending, tick() sends PINGREQ and PINGRESP comes back.
    s.session.tick(Date.now() + 8000)
    await waitFor(() => s.pongs === 1, 5000, 'PINGRESP')
    const id = s.session.unsubscribe([`k6/${version}/#`])
    await waitFor(() => s.unsubacks.length === 1, 5000, 'UNSUBACK')
    assert.equal(s.unsubacks[0]?.reasonCodes.length, version === 5 ? 1 : 0)
    assert.ok(id > 0)
    s.session.disconnect()
    await waitFor(() => s.closed, 5000, 'socket closed')
    assert.deepEqual(s.errors, [])
    assert.ok(logs.lines.some((l) => l.msg === 'client connected' && l.clientId === `k6-conn-${version}` && l.listener === 'ws'))
  }
})

test('QoS 0, 1 and 2 publishes from the k6 session arrive once, with acks, in both versions', async (t) => {
  const { node } = await startTestNode(t, FAST_CLOSE)
  const url = `ws://127.0.0.1:${node.port('ws')}/mqtt`
  for (const version of [4, 5] as const) {
    const sub = await openWsSession(t, url, { clientId: `k6-sub-${version}`, version })
    const pub = await openWsSession(t, url, { clientId: `k6-pub-${version}`, version })
    assert.deepEqual(await subscribe(sub, `q/${version}/+`, 2), [2])
    const sentAt = Date.now()
    const ids = ([0, 1, 2] as const).map((qos) => pub.session.publish(`q/${version}/${qos}`, stampPayload(qos, 7, sentAt, 32), qos))
    assert.equal(ids[0], 0)
    await waitFor(() => sub.messages.length === 3 && pub.acks.length === 2, 5000, 'three messages and two acks')
    assert.deepEqual(pub.acks.map((a) => a.packetId).sort(), [ids[1], ids[2]].sort())
    assert.ok(pub.acks.every((a) => a.reasonCode === 0))
    assert.equal(pub.session.inflight, 0)
    const got = sub.messages.map((m) => ({ topic: m.topic, qos: m.qos, stamp: readStamp(m.payload), size: m.payload.length }))
      .sort((a, b) => a.qos - b.qos)
    assert.deepEqual(got, [0, 1, 2].map((q) => ({ topic: `q/${version}/${q}`, qos: q, stamp: { sender: q, seq: 7, sentAt }, size: 32 })))
    await sleep(100) // prove no QoS 2 duplicate follows the PUBREL/PUBCOMP exchange
    assert.equal(sub.messages.length, 3)
  }
})

test('a retained message is read on subscribe with the RETAIN flag, and cleared by an empty retained publish', async (t) => {
  const { node } = await startTestNode(t, FAST_CLOSE)
  const url = `ws://127.0.0.1:${node.port('ws')}/mqtt`
  const writer = await openWsSession(t, url, { clientId: 'k6-writer', version: 5 })
  writer.session.publish('state/dev-1', te.encode('on'), 1, true)
  await waitFor(() => writer.acks.length === 1, 5000, 'PUBACK of the retained message')
  for (const version of [4, 5] as const) {
    const reader = await openWsSession(t, url, { clientId: `k6-reader-${version}`, version })
    await subscribe(reader, 'state/+', 1)
    await waitFor(() => reader.messages.length === 1, 5000, 'retained message')
    assert.equal(reader.messages[0]?.retain, true)
    assert.equal(td.decode(reader.messages[0]?.payload), 'on')
  }
  writer.session.publish('state/dev-1', new Uint8Array(0), 1, true)
  await waitFor(() => writer.acks.length === 2, 5000, 'PUBACK of the clearing message')
  const late = await openWsSession(t, url, { clientId: 'k6-reader-late', version: 5 })
  await subscribe(late, 'state/+', 1)
  await sleep(150) // prove absence: nothing retained any more
  assert.equal(late.messages.length, 0)
})

test('interop: mqtt.js receives what the k6 codec publishes, and the k6 codec receives what mqtt.js publishes', async (t) => {
  const { node, url: tcpUrl } = await startTestNode(t, FAST_CLOSE)
  const url = `ws://127.0.0.1:${node.port('ws')}/mqtt`
  for (const version of [4, 5] as const) {
    const js = await connectClient(t, tcpUrl, { protocolVersion: version, clientId: `mqttjs-${version}` })
    const jsGot = collect(js)
    await js.subscribeAsync(`from-k6/${version}`, { qos: 2 })
    const k6 = await openWsSession(t, url, { clientId: `k6-interop-${version}`, version })
    await subscribe(k6, `from-js/${version}`, 2)
    const props = version === 5 ? { messageExpiryInterval: 60, userProperties: [['trace', 'abc'] as [string, string]], contentType: 'text/plain' } : undefined
    const packet: MqttPacket = { type: 'publish', topic: `from-k6/${version}`, payload: te.encode('Grüße'), qos: 1, retain: false, dup: false, packetId: 77, ...(props ? { properties: props } : {}) }
    // Raw codec bytes straight onto the WebSocket, next to the session's own traffic.
    k6.ws.send(encode(packet, version))
    await waitFor(() => jsGot.length === 1, 5000, 'mqtt.js got the k6 message')
    assert.equal(jsGot[0]?.payload.toString(), 'Grüße')
    assert.equal(jsGot[0]?.packet.qos, 1)
    if (version === 5) {
      assert.deepEqual({ ...jsGot[0]?.packet.properties?.userProperties }, { trace: 'abc' })
      assert.equal(jsGot[0]?.packet.properties?.contentType, 'text/plain')
    }
    await js.publishAsync(`from-js/${version}`, Buffer.from([0, 255, 1]), { qos: 2, ...(version === 5 ? { properties: { userProperties: { a: 'b' } } } : {}) })
    await waitFor(() => k6.messages.length === 1, 5000, 'k6 got the mqtt.js message')
    assert.deepEqual([...(k6.messages[0]?.payload ?? [])], [0, 255, 1])
    assert.equal(k6.messages[0]?.qos, 2)
    if (version === 5) assert.deepEqual(k6.messages[0]?.properties?.userProperties, [['a', 'b']])
    assert.deepEqual(k6.errors, [])
  }
})

test('the broker reads packets split over many WebSocket frames and merged into one', async (t) => {
  const { node } = await startTestNode(t, FAST_CLOSE)
  const ws = new WebSocket(`ws://127.0.0.1:${node.port('ws')}/mqtt`, ['mqtt'])
  t.after(() => ws.terminate())
  const decoder = new MqttDecoder(5)
  const got: MqttPacket[] = []
  ws.on('message', (data: Buffer) => got.push(...decoder.push(data)))
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  // CONNECT one byte per frame.
  const connect = encode({ type: 'connect', protocolVersion: 5, clientId: 'k6-frames', clean: true, keepalive: 30 }, 5)
  for (const b of connect) ws.send(Uint8Array.of(b))
  await waitFor(() => got.some((p) => p.type === 'connack'), 5000, 'CONNACK')
  // SUBSCRIBE + PUBLISH (QoS 1) + PINGREQ in one frame.
  const merged = [
    encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topic: 'f/t', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 5),
    encode({ type: 'publish', topic: 'f/t', payload: te.encode('x'), qos: 1, retain: false, dup: false, packetId: 2 }, 5),
    encode({ type: 'pingreq' }, 5)
  ]
  ws.send(Uint8Array.from(merged.flatMap((b) => [...b])))
  await waitFor(() => ['suback', 'puback', 'pingresp', 'publish'].every((type) => got.some((p) => p.type === type)), 5000, 'SUBACK, PUBACK, PINGRESP and the message')
  const msg = got.find((p) => p.type === 'publish')
  assert.equal(msg?.type === 'publish' ? td.decode(msg.payload) : '', 'x')
})
