/**
 * A small MQTT 3.1.1 (protocol level 4) and 5.0 (level 5) codec for the k6 scripts: encode a
 * packet object to bytes and decode one packet body; mqtt-stream.ts cuts a byte stream into
 * packets. Packet shapes: mqtt-packets.ts.
 * Pure TypeScript on Uint8Array; no k6 or Node imports. Section numbers: see mqtt-wire.ts.
 */
import type {
  AckPacket, ConnackPacket, ConnectPacket, DisconnectPacket, MqttPacket, ProtocolVersion, PublishPacket, QoS,
  SubackPacket, SubscribePacket, Subscription, UnsubackPacket, UnsubscribePacket, Will
} from './mqtt-packets.ts'
import { MqttCodecError, Reader, Writer, readProperties, writeProperties } from './mqtt-wire.ts'

export type * from './mqtt-packets.ts'
export { MqttCodecError, utf8Decode, utf8Encode, type Properties } from './mqtt-wire.ts'

/** Control packet types, fixed header bits 7–4 (3.1.1 §2.2.1, 5.0 §2.1.2). */
const TYPE_CODES = {
  connect: 1, connack: 2, publish: 3, puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7, subscribe: 8,
  suback: 9, unsubscribe: 10, unsuback: 11, pingreq: 12, pingresp: 13, disconnect: 14, auth: 15
} as const
const TYPE_NAMES = Object.keys(TYPE_CODES) as Array<keyof typeof TYPE_CODES>
/** PUBREL, SUBSCRIBE and UNSUBSCRIBE carry flags 0b0010; all others but PUBLISH 0 [MQTT-2.2.2-1] (3.1.1) / 5.0 §2.1.3. */
const FLAGS_0010 = new Set([6, 8, 10])

function checkQos (q: number, what: string): QoS {
  if (q !== 0 && q !== 1 && q !== 2) throw new MqttCodecError('BAD_QOS', `${what}: QoS ${q} is not 0, 1 or 2`)
  return q
}
function checkPacketId (id: number | undefined, what: string): number {
  // A Packet Identifier is a non-zero 16-bit integer [MQTT-2.3.1-1] (3.1.1), [MQTT-2.2.1-3] (5.0).
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) throw new MqttCodecError('BAD_PACKET_ID', `${what}: packet identifier must be 1..65535, got ${String(id)}`)
  return id
}

/** Encodes one packet. `version` decides property blocks and reason codes; CONNECT uses its own protocolVersion. */
export function encode (packet: MqttPacket, version: ProtocolVersion): Uint8Array {
  const v5 = (packet.type === 'connect' ? packet.protocolVersion : version) === 5
  const w = new Writer()
  let flags = 0
  switch (packet.type) {
    case 'connect': {
      const { will } = packet
      if (packet.password !== undefined && packet.username === undefined && !v5) {
        throw new MqttCodecError('BAD_CONNECT', 'CONNECT: a password needs a user name in MQTT 3.1.1 [MQTT-3.1.2-22]')
      }
      // Variable header: protocol name "MQTT", level, connect flags, keep alive (§3.1.2).
      w.str('MQTT').u8(packet.protocolVersion)
      let cf = packet.clean ? 0x02 : 0
      if (will !== undefined) cf |= 0x04 | (checkQos(will.qos, 'will') << 3) | (will.retain ? 0x20 : 0)
      if (packet.password !== undefined) cf |= 0x40
      if (packet.username !== undefined) cf |= 0x80
      w.u8(cf).u16(packet.keepalive)
      if (v5) writeProperties(w, packet.properties)
      // Payload order: client id, will properties/topic/payload, user name, password (§3.1.3).
      w.str(packet.clientId)
      if (will !== undefined) {
        if (v5) writeProperties(w, will.properties)
        w.str(will.topic).binary(will.payload)
      }
      if (packet.username !== undefined) w.str(packet.username)
      if (packet.password !== undefined) w.binary(packet.password)
      break
    }
    case 'connack':
      w.u8(packet.sessionPresent ? 1 : 0).u8(packet.reasonCode)
      if (v5) writeProperties(w, packet.properties)
      break
    case 'publish': {
      const qos = checkQos(packet.qos, 'PUBLISH')
      // QoS 0 carries DUP 0 [MQTT-3.3.1-2].
      if (qos === 0 && packet.dup) throw new MqttCodecError('BAD_PUBLISH', 'PUBLISH: DUP must be 0 for QoS 0 [MQTT-3.3.1-2]')
      flags = (packet.dup ? 8 : 0) | (qos << 1) | (packet.retain ? 1 : 0)
      w.str(packet.topic)
      if (qos > 0) w.u16(checkPacketId(packet.packetId, 'PUBLISH'))
      if (v5) writeProperties(w, packet.properties)
      w.raw(packet.payload)
      break
    }
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp':
      w.u16(checkPacketId(packet.packetId, packet.type))
      // 5.0 §3.4.2.1: reason code and properties may be left out when Success with no properties.
      if (v5 && (packet.reasonCode !== 0 || packet.properties !== undefined)) {
        w.u8(packet.reasonCode)
        if (packet.properties !== undefined) writeProperties(w, packet.properties)
      }
      break
    case 'subscribe':
      if (packet.subscriptions.length === 0) throw new MqttCodecError('BAD_SUBSCRIBE', 'SUBSCRIBE needs at least one topic filter [MQTT-3.8.3-3]')
      w.u16(checkPacketId(packet.packetId, 'SUBSCRIBE'))
      if (v5) writeProperties(w, packet.properties)
      for (const s of packet.subscriptions) {
        // Subscription options byte (5.0 §3.8.3.1); 3.1.1 has the QoS bits only (§3.8.3).
        let opts = checkQos(s.qos, 'SUBSCRIBE')
        if (v5) opts |= (s.noLocal === true ? 4 : 0) | (s.retainAsPublished === true ? 8 : 0) | ((s.retainHandling ?? 0) << 4)
        w.str(s.topic).u8(opts)
      }
      break
    case 'suback':
      w.u16(checkPacketId(packet.packetId, 'SUBACK'))
      if (v5) writeProperties(w, packet.properties)
      w.raw(packet.reasonCodes)
      break
    case 'unsubscribe':
      if (packet.topics.length === 0) throw new MqttCodecError('BAD_UNSUBSCRIBE', 'UNSUBSCRIBE needs at least one topic filter [MQTT-3.10.3-2]')
      w.u16(checkPacketId(packet.packetId, 'UNSUBSCRIBE'))
      if (v5) writeProperties(w, packet.properties)
      for (const t of packet.topics) w.str(t)
      break
    case 'unsuback':
      w.u16(checkPacketId(packet.packetId, 'UNSUBACK'))
      if (v5) { writeProperties(w, packet.properties); w.raw(packet.reasonCodes) }
      break
    case 'pingreq': case 'pingresp':
      break
    case 'disconnect': case 'auth':
      if (packet.type === 'auth' && !v5) throw new MqttCodecError('BAD_TYPE', 'AUTH exists in MQTT 5 only')
      // 5.0 §3.14.2.1: an empty DISCONNECT means reason 0x00 with no properties.
      if (v5 && (packet.reasonCode !== 0 || packet.properties !== undefined)) {
        w.u8(packet.reasonCode)
        if (packet.properties !== undefined) writeProperties(w, packet.properties)
      }
      break
  }
  const code = TYPE_CODES[packet.type]
  if (FLAGS_0010.has(code)) flags = 2
  const head: number[] = [(code << 4) | flags]
  new Writer().varint(w.bytes.length).bytes.forEach((b) => head.push(b))
  const out = new Uint8Array(head.length + w.bytes.length)
  out.set(head, 0)
  out.set(w.bytes, head.length)
  return out
}

/** Decodes the body of one packet whose fixed header has been read. */
export function decodeBody (first: number, body: Uint8Array, version: ProtocolVersion): MqttPacket {
  const code = first >> 4
  const flags = first & 0x0f
  const type = TYPE_NAMES[code - 1]
  if (type === undefined) throw new MqttCodecError('BAD_TYPE', `reserved control packet type ${code}`)
  if (type !== 'publish' && flags !== (FLAGS_0010.has(code) ? 2 : 0)) {
    throw new MqttCodecError('BAD_FLAGS', `${type}: fixed header flags 0x${flags.toString(16)} are reserved [MQTT-2.2.2-2]`)
  }
  const r = new Reader(body, type)
  const v5 = version === 5
  let packet: MqttPacket
  switch (type) {
    case 'connect': {
      const name = r.str()
      const level = r.u8()
      if (name !== 'MQTT' || (level !== 4 && level !== 5)) {
        throw new MqttCodecError('BAD_PROTOCOL', `CONNECT: unsupported protocol ${JSON.stringify(name)} level ${level} [MQTT-3.1.2-1] [MQTT-3.1.2-2]`)
      }
      const cf = r.u8()
      if ((cf & 1) !== 0) throw new MqttCodecError('BAD_CONNECT', 'CONNECT: reserved connect flag is set [MQTT-3.1.2-3]')
      const willFlag = (cf & 0x04) !== 0
      const willQos = (cf >> 3) & 3
      if (!willFlag && (willQos !== 0 || (cf & 0x20) !== 0)) throw new MqttCodecError('BAD_CONNECT', 'CONNECT: will QoS/retain set without a will [MQTT-3.1.2-11]')
      if (level === 4 && (cf & 0x40) !== 0 && (cf & 0x80) === 0) throw new MqttCodecError('BAD_CONNECT', 'CONNECT: password flag without user name flag [MQTT-3.1.2-22]')
      const c: ConnectPacket = { type, protocolVersion: level as ProtocolVersion, clean: (cf & 2) !== 0, keepalive: r.u16(), clientId: '' }
      const props = level === 5 ? readProperties(r) : undefined
      if (props !== undefined) c.properties = props
      c.clientId = r.str()
      if (willFlag) {
        const wp = level === 5 ? readProperties(r) : undefined
        const will: Will = { topic: r.str(), payload: r.binary(), qos: checkQos(willQos, 'will'), retain: (cf & 0x20) !== 0 }
        if (wp !== undefined) will.properties = wp
        c.will = will
      }
      if ((cf & 0x80) !== 0) c.username = r.str()
      if ((cf & 0x40) !== 0) c.password = r.binary()
      packet = c
      break
    }
    case 'connack': {
      const ackFlags = r.u8()
      if ((ackFlags & 0xfe) !== 0) throw new MqttCodecError('BAD_CONNACK', 'CONNACK: reserved acknowledge flags are set [MQTT-3.2.2-1]')
      const c: ConnackPacket = { type, sessionPresent: ackFlags === 1, reasonCode: r.u8() }
      const props = v5 ? readProperties(r) : undefined
      if (props !== undefined) c.properties = props
      packet = c
      break
    }
    case 'publish': {
      const qos = (flags >> 1) & 3
      if (qos === 3) throw new MqttCodecError('BAD_QOS', 'PUBLISH: QoS bits are both set [MQTT-3.3.1-4]')
      const dup = (flags & 8) !== 0
      if (qos === 0 && dup) throw new MqttCodecError('BAD_PUBLISH', 'PUBLISH: DUP set on QoS 0 [MQTT-3.3.1-2]')
      const p: PublishPacket = { type, topic: r.str(), qos: qos as QoS, dup, retain: (flags & 1) !== 0, payload: new Uint8Array(0) }
      if (qos > 0) p.packetId = checkPacketId(r.u16(), 'PUBLISH')
      const props = v5 ? readProperties(r) : undefined
      if (props !== undefined) p.properties = props
      p.payload = r.rest()
      packet = p
      break
    }
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': {
      const a: AckPacket = { type, packetId: checkPacketId(r.u16(), type), reasonCode: 0 }
      if (v5 && r.left > 0) {
        a.reasonCode = r.u8()
        const props = r.left > 0 ? readProperties(r) : undefined
        if (props !== undefined) a.properties = props
      }
      packet = a
      break
    }
    case 'subscribe': {
      const s: SubscribePacket = { type, packetId: checkPacketId(r.u16(), type), subscriptions: [] }
      const props = v5 ? readProperties(r) : undefined
      if (props !== undefined) s.properties = props
      while (r.left > 0) {
        const topic = r.str()
        const o = r.u8()
        // Reserved option bits must be 0 [MQTT-3.8.3-4] (3.1.1), [MQTT-3.8.3-5] (5.0); retain handling 3 is a protocol error.
        if ((o & (v5 ? 0xc0 : 0xfc)) !== 0 || ((o >> 4) & 3) === 3) throw new MqttCodecError('BAD_SUBSCRIBE', `SUBSCRIBE: reserved option bits set for ${JSON.stringify(topic)}`)
        const sub: Subscription = { topic, qos: checkQos(o & 3, 'SUBSCRIBE') }
        if (v5) Object.assign(sub, { noLocal: (o & 4) !== 0, retainAsPublished: (o & 8) !== 0, retainHandling: (o >> 4) & 3 })
        s.subscriptions.push(sub)
      }
      if (s.subscriptions.length === 0) throw new MqttCodecError('BAD_SUBSCRIBE', 'SUBSCRIBE without topic filters [MQTT-3.8.3-3]')
      packet = s
      break
    }
    case 'suback': case 'unsuback': {
      const s: SubackPacket | UnsubackPacket = { type, packetId: checkPacketId(r.u16(), type), reasonCodes: [] }
      const props = v5 ? readProperties(r) : undefined
      if (props !== undefined) s.properties = props
      s.reasonCodes = type === 'unsuback' && !v5 ? [] : [...r.rest()]
      packet = s
      break
    }
    case 'unsubscribe': {
      const u: UnsubscribePacket = { type, packetId: checkPacketId(r.u16(), type), topics: [] }
      const props = v5 ? readProperties(r) : undefined
      if (props !== undefined) u.properties = props
      while (r.left > 0) u.topics.push(r.str())
      if (u.topics.length === 0) throw new MqttCodecError('BAD_UNSUBSCRIBE', 'UNSUBSCRIBE without topic filters [MQTT-3.10.3-2]')
      packet = u
      break
    }
    case 'pingreq': case 'pingresp':
      packet = { type }
      break
    case 'disconnect': case 'auth': {
      if (type === 'auth' && !v5) throw new MqttCodecError('BAD_TYPE', 'AUTH is not an MQTT 3.1.1 packet')
      const d: DisconnectPacket = { type, reasonCode: 0 }
      if (v5 && r.left > 0) {
        d.reasonCode = r.u8()
        const props = r.left > 0 ? readProperties(r) : undefined
        if (props !== undefined) d.properties = props
      }
      packet = d
      break
    }
  }
  r.end()
  return packet
}
