import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { restoreUserPropertyOrder, userPropertyOrder } from '../../src/broker/user-properties.js'
import { decodeMessage, encodeMessage } from '../../src/cluster/emitter-codec.js'
import { decodeEntry, encodeEntry } from '../../src/groups/stream-codec.js'

// User Properties keep their wire order [MQTT-3.3.2-18]: the patched mqtt-packet records it and
// writes it back; Starling's serializers (bus frames, group stream entries) carry it.

/** A PUBLISH as it arrives: User Properties a=1, b=2, a=3 in that order on the wire. */
function parsed (): IPublishPacket {
  const props: Buffer[] = []
  for (const [name, value] of [['a', '1'], ['b', '2'], ['a', '3']] as const) {
    props.push(Buffer.from([0x26, 0, 1, name.charCodeAt(0), 0, 1, value.charCodeAt(0)]))
  }
  const properties = Buffer.concat(props)
  const body = Buffer.concat([Buffer.from([0, 1, 0x74]), Buffer.from([properties.length]), properties, Buffer.from('x')])
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  let packet: Packet | undefined
  parser.on('packet', (p: Packet) => { packet = p })
  parser.parse(Buffer.concat([Buffer.from([0x30, body.length]), body]))
  assert.ok(packet !== undefined && packet.cmd === 'publish')
  return packet as IPublishPacket
}

/** The User Property pairs of a generated PUBLISH, in wire order. */
function wirePairs (packet: Packet): string[] {
  const again = parsedFrom(mqttPacket.generate(packet, { protocolVersion: 5 }))
  const order = userPropertyOrder(again) ?? []
  const used = new Map<string, number>()
  const props = again.properties?.userProperties ?? {}
  return order.map((name) => {
    const value = props[name]
    const i = used.get(name) ?? 0
    used.set(name, i + 1)
    return `${name}=${Array.isArray(value) ? String(value[i]) : String(value)}`
  })
}

function parsedFrom (frame: Buffer): IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion: 5 })
  let packet: Packet | undefined
  parser.on('packet', (p: Packet) => { packet = p })
  parser.parse(frame)
  return packet as IPublishPacket
}

test('the parser records the wire order; the object form is unchanged', () => {
  const packet = parsed()
  assert.deepEqual({ ...packet.properties?.userProperties }, { a: ['1', '3'], b: '2' })
  assert.deepEqual(userPropertyOrder(packet), ['a', 'b', 'a'])
  assert.deepEqual(Object.keys(packet.properties?.userProperties ?? {}), ['a', 'b'], 'the order is not an enumerable key')
})

test('the writer follows the recorded order', () => {
  assert.deepEqual(wirePairs(parsed()), ['a=1', 'b=2', 'a=3'])
})

test('an order that no longer matches the object is ignored (grouped by name, nothing lost)', () => {
  const packet = parsed()
  const props = packet.properties?.userProperties as Record<string, string | string[]>
  props.c = '4' // added after parsing
  assert.deepEqual(wirePairs(packet), ['a=1', 'a=3', 'b=2', 'c=4'])
  const other = parsed()
  restoreUserPropertyOrder(other, ['a', 'b']) // a value of `a` missing from the order
  assert.deepEqual(wirePairs(other), ['a=1', 'a=3', 'b=2'])
})

test('a bus frame carries the order to the other pod', () => {
  const decoded = decodeMessage(encodeMessage(parsed() as unknown as { topic: string }))
  assert.deepEqual(userPropertyOrder(decoded), ['a', 'b', 'a'])
  assert.equal(Object.hasOwn(decoded, 'userPropertyOrder'), false, 'the carrier field is removed')
  assert.deepEqual(wirePairs(decoded as unknown as Packet), ['a=1', 'b=2', 'a=3'])
})

test('a group stream entry carries the order', () => {
  const packet = parsed()
  const [, header, , payload] = encodeEntry({ topic: packet.topic, payload: Buffer.from('x'), qos: 1, retain: false, properties: packet.properties as Record<string, unknown>, enqueuedAt: 1 })
  const decoded = decodeEntry([Buffer.from('m'), Buffer.from(header), Buffer.from('p'), payload])
  assert.ok(decoded !== undefined)
  assert.deepEqual(userPropertyOrder(decoded), ['a', 'b', 'a'])
})
