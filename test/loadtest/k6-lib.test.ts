import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseCredentials } from '../../loadtest/k6/lib/credentials.js'
import { encode, type MqttPacket } from '../../loadtest/k6/lib/mqtt-codec.js'
import { MqttDecoder } from '../../loadtest/k6/lib/mqtt-stream.js'
import { DeliveryLedger, readStamp, stampPayload } from '../../loadtest/k6/lib/payload.js'
import { MqttSession } from '../../loadtest/k6/lib/session.js'
import { parseDuration, readSettings, vuSlice } from '../../loadtest/k6/lib/settings.js'

test('payload stamps round-trip and the ledger counts deliveries, duplicates and losses', () => {
  const stamp = readStamp(stampPayload(42, 7, 1_700_000_000_123.5, 64))
  assert.deepEqual(stamp, { sender: 42, seq: 7, sentAt: 1_700_000_000_123.5 })
  assert.equal(stampPayload(1, 1, 1, 4).length, 16, 'never shorter than the stamp')
  assert.equal(readStamp(new Uint8Array(15)), undefined)
  const ledger = new DeliveryLedger()
  for (let i = 0; i < 5; i++) assert.equal(ledger.nextSeq(1), i)
  ledger.nextSeq(2)
  for (const seq of [0, 2, 1, 2, 4]) ledger.receive({ sender: 1, seq, sentAt: 0 })
  assert.deepEqual([ledger.sent, ledger.delivered, ledger.duplicates, ledger.missing], [6, 4, 1, 2])
})

test('credentials files: CSV with or without header and JSON; bad ones are refused', () => {
  assert.deepEqual(parseCredentials('clientId,username,password\n# comment\ndev-1,u1,tok.en.1\r\ndev-2,,\n\ndev-3,u3\n'), [
    { clientId: 'dev-1', username: 'u1', password: 'tok.en.1' }, { clientId: 'dev-2' }, { clientId: 'dev-3', username: 'u3' }
  ])
  assert.deepEqual(parseCredentials(' [{"clientId":"a","password":"p"},{"clientId":"b","username":"u"}] '), [
    { clientId: 'a', password: 'p' }, { clientId: 'b', username: 'u' }
  ])
  assert.throws(() => parseCredentials('a,u,p\na,u,p'), /appears twice/)
  assert.throws(() => parseCredentials('a,u,p,extra'), /line 1/)
  assert.throws(() => parseCredentials('[{"clientId":1}]'), /clientId must be a string/)
  assert.throws(() => parseCredentials('{"clientId":"a"}'), /must be an array/)
})

test('settings: defaults, k6-style durations, validation, and an even split of devices over VUs', () => {
  const d = readSettings({})
  assert.equal(d.url, 'ws://127.0.0.1:8080/mqtt')
  assert.deepEqual([d.devices, d.qos, d.version, d.durationMs, d.intervalMs, d.minDelivery], [1000, 1, 5, 60_000, 5000, 0.999])
  const s = readSettings({ URL: 'ws://lb:80/mqtt', DEVICES: '50000', QOS: '0', MQTT_VERSION: '4', DURATION: '1h30m', USERNAME: 'u', PASSWORD: 'p', BACKEND_USERNAME: 'svc' })
  assert.deepEqual([s.url, s.devices, s.qos, s.version, s.durationMs, s.minDelivery], ['ws://lb:80/mqtt', 50_000, 0, 4, 5_400_000, 0.99])
  assert.deepEqual([s.username, s.password, s.backendUsername, s.backendPassword], ['u', 'p', 'svc', 'p'])
  assert.deepEqual([parseDuration('500ms'), parseDuration('2m'), parseDuration('1.5'), parseDuration('1m30s')], [500, 120_000, 1500, 90_000])
  assert.throws(() => parseDuration('5 minutes'), /bad duration/)
  assert.throws(() => readSettings({ QOS: '3' }), /QOS/)
  assert.throws(() => readSettings({ MQTT_VERSION: '3' }), /MQTT_VERSION/)
  assert.throws(() => readSettings({ GROUP: 'a/b' }), /share name/)
  const slices = [1, 2, 3].map((vu) => vuSlice(vu, 3, 10))
  assert.deepEqual(slices, [{ first: 0, count: 4 }, { first: 4, count: 3 }, { first: 7, count: 3 }])
})

/** A session on a fake transport: the test plays the server. */
function fakeServer (version: 4 | 5, options: { keepaliveSec?: number, connectTimeoutMs?: number } = {}) {
  let now = 1_000_000
  const fromClient: MqttPacket[] = []
  const decoder = new MqttDecoder(version)
  const events = { errors: [] as string[], messages: 0, acks: [] as number[], closed: false }
  const session = new MqttSession(
    { version, clientId: 'c', keepaliveSec: options.keepaliveSec ?? 10, clean: true, connectTimeoutMs: options.connectTimeoutMs ?? 1000, username: 'u', password: 'tök' },
    { send: (b) => fromClient.push(...decoder.push(b)), close: () => { events.closed = true } },
    { error: (why) => events.errors.push(why), message: () => { events.messages++ }, acked: (id) => events.acks.push(id) },
    () => now
  )
  const serverSends = (p: MqttPacket): void => session.receive(encode(p, version))
  return { session, fromClient, events, serverSends, advance: (ms: number) => { now += ms; session.tick(now) } }
}

test('session: CONNECT fields, CONNACK timeout, refused CONNACK, keep-alive ping and its timeout', () => {
  const a = fakeServer(5)
  a.session.start()
  const connect = a.fromClient[0]
  assert.equal(connect?.type, 'connect')
  assert.deepEqual(connect?.type === 'connect' ? [connect.username, [...(connect.password ?? [])]] : [], ['u', [0x74, 0xc3, 0xb6, 0x6b]])
  a.advance(1001)
  assert.match(a.events.errors[0] ?? '', /no CONNACK within 1000 ms/)
  assert.equal(a.events.closed, true)

  const b = fakeServer(4)
  b.session.start()
  b.serverSends({ type: 'connack', sessionPresent: false, reasonCode: 5 })
  assert.match(b.events.errors[0] ?? '', /refused, reason 0x5/)

  const c = fakeServer(5, { keepaliveSec: 4 })
  c.session.start()
  c.serverSends({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 2 } })
  c.advance(2000)
  assert.equal(c.fromClient.filter((p) => p.type === 'pingreq').length, 0, 'no ping before 3/4 of the keep alive')
  c.advance(1000)
  assert.equal(c.fromClient.filter((p) => p.type === 'pingreq').length, 1)
  c.advance(4001)
  assert.match(c.events.errors[0] ?? '', /no PINGRESP/)

  // The server's Server Keep Alive replaces ours [MQTT-3.2.2-21].
  const d = fakeServer(5, { keepaliveSec: 60 })
  d.session.start()
  d.serverSends({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { serverKeepAlive: 2 } })
  d.advance(1500)
  assert.equal(d.fromClient.filter((p) => p.type === 'pingreq').length, 1)
  d.serverSends({ type: 'pingresp' })
  assert.deepEqual(d.events.errors, [])
})

test('session: Receive Maximum caps QoS 1 in flight, acks free it, QoS 2 duplicates are delivered once', () => {
  const s = fakeServer(5)
  s.session.start()
  s.serverSends({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 2 } })
  const payload = new Uint8Array(1)
  const ids = [s.session.publish('t', payload, 1), s.session.publish('t', payload, 1), s.session.publish('t', payload, 1)]
  assert.deepEqual(ids, [1, 2, undefined], 'third QoS 1 publish waits for quota [MQTT-3.3.4-7]')
  s.serverSends({ type: 'puback', packetId: 1, reasonCode: 0 })
  assert.deepEqual(s.events.acks, [1])
  assert.equal(s.session.publish('t', payload, 1), 3)
  // Incoming QoS 2, sent twice (DUP) before PUBREL: one delivery, PUBREC each time, then PUBCOMP.
  const pub: MqttPacket = { type: 'publish', topic: 't', payload, qos: 2, retain: false, dup: false, packetId: 9 }
  s.serverSends(pub)
  s.serverSends({ ...pub, dup: true })
  s.serverSends({ type: 'pubrel', packetId: 9, reasonCode: 0 })
  assert.equal(s.events.messages, 1)
  assert.deepEqual(s.fromClient.filter((p) => p.type === 'pubrec' || p.type === 'pubcomp').map((p) => p.type), ['pubrec', 'pubrec', 'pubcomp'])
  // Outgoing QoS 2: PUBREC → PUBREL → PUBCOMP completes it.
  s.serverSends({ type: 'puback', packetId: 2, reasonCode: 0 })
  s.serverSends({ type: 'puback', packetId: 3, reasonCode: 0 })
  const id = s.session.publish('t', payload, 2)
  s.serverSends({ type: 'pubrec', packetId: id as number, reasonCode: 0 })
  assert.equal(s.fromClient.at(-1)?.type, 'pubrel')
  s.serverSends({ type: 'pubcomp', packetId: id as number, reasonCode: 0 })
  assert.deepEqual(s.events.acks, [1, 2, 3, id])
  // A malformed packet from the server ends the session.
  s.session.receive(Uint8Array.from([0x00, 0x00]))
  assert.match(s.events.errors[0] ?? '', /malformed packet/)
  assert.equal(s.session.state, 'closed')
})
