/**
 * Sample packets of every type for the k6 codec tests, and a projection that lets the codec's
 * packets be compared with mqtt-packet's (the parser/generator of mqtt.js and aedes).
 */
import type { Packet } from 'mqtt-packet'
import type { MqttPacket, Properties, ProtocolVersion } from '../../loadtest/k6/lib/mqtt-codec.js'

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b)

export function samples (v: ProtocolVersion): MqttPacket[] {
  const v5 = v === 5
  const p = <T>(props: T): { properties: T } | Record<string, never> => (v5 ? { properties: props } : {})
  const opts = (nl: boolean, rap: boolean, rh: 0 | 1 | 2): object => (v5 ? { noLocal: nl, retainAsPublished: rap, retainHandling: rh } : {})
  const list: MqttPacket[] = [
    { type: 'connect', protocolVersion: v, clientId: 'dev-1', clean: true, keepalive: 30 },
    {
      type: 'connect', protocolVersion: v, clientId: 'Gerät-✓-😀', clean: false, keepalive: 65_535, username: 'user', password: bytes(0, 1, 255),
      will: { topic: 'w/t', payload: bytes(1, 2, 3), qos: 1, retain: true, ...p<Properties>({ willDelayInterval: 5, contentType: 'text/plain' }) },
      ...p<Properties>({ sessionExpiryInterval: 300, receiveMaximum: 20, userProperties: [['a', '1'], ['a', '2']] })
    },
    { type: 'connack', sessionPresent: true, reasonCode: 0, ...p<Properties>({ receiveMaximum: 100, maximumQoS: 1, assignedClientIdentifier: 'x', topicAliasMaximum: 10, retainAvailable: 1, wildcardSubscriptionAvailable: 1, sharedSubscriptionAvailable: 1, subscriptionIdentifiersAvailable: 0, serverKeepAlive: 60, maximumPacketSize: 1_048_576, reasonString: 'ok' }) },
    { type: 'connack', sessionPresent: false, reasonCode: v5 ? 0x87 : 5 },
    { type: 'publish', topic: 'a/b', payload: bytes(), qos: 0, retain: true, dup: false },
    { type: 'publish', topic: 'tele/ü', payload: new Uint8Array(300).fill(7), qos: 1, retain: false, dup: true, packetId: 1 },
    {
      type: 'publish', topic: 'c', payload: bytes(9, 8), qos: 2, retain: false, dup: false, packetId: 65_535,
      ...p<Properties>({ payloadFormatIndicator: 1, messageExpiryInterval: 60, contentType: 'application/json', responseTopic: 'r/1', correlationData: bytes(4, 2), userProperties: [['k', 'v']], subscriptionIdentifier: [1, 268_435_455] })
    },
    { type: 'puback', packetId: 2, reasonCode: 0 },
    { type: 'puback', packetId: 3, reasonCode: v5 ? 0x10 : 0, ...p<Properties>({ reasonString: 'no subscribers' }) },
    { type: 'pubrec', packetId: 4, reasonCode: 0 },
    { type: 'pubrel', packetId: 5, reasonCode: v5 ? 0x92 : 0 },
    { type: 'pubcomp', packetId: 6, reasonCode: 0 },
    {
      type: 'subscribe', packetId: 7,
      subscriptions: [{ topic: 'a/+', qos: 0, ...opts(false, false, 0) }, { topic: 'b/#', qos: 1, ...opts(true, true, 2) }, { topic: '$share/g/c', qos: 2, ...opts(false, false, 1) }],
      ...p<Properties>({ subscriptionIdentifier: [7], userProperties: [['x', 'y']] })
    },
    { type: 'suback', packetId: 7, reasonCodes: v5 ? [0, 1, 2, 0x87, 0x9e] : [0, 1, 2, 0x80] },
    { type: 'unsubscribe', packetId: 8, topics: ['a/b', 'c/#'] },
    { type: 'unsuback', packetId: 8, reasonCodes: v5 ? [0, 0x11] : [] },
    { type: 'pingreq' },
    { type: 'pingresp' },
    { type: 'disconnect', reasonCode: 0 }
  ]
  if (v5) {
    list.push({ type: 'disconnect', reasonCode: 0x8e, properties: { reasonString: 'taken over', sessionExpiryInterval: 0 } })
    list.push({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM', authenticationData: bytes(1, 2) } })
  }
  return list
}

type Bag = Record<string, unknown>
const buf = (b: unknown): number[] | undefined => (b === undefined || b === null ? undefined : [...(b as Uint8Array)])
const strip = (o: Bag): Bag => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined && x !== null && !(Array.isArray(x) && x.length === 0)))

function props (pr: Bag | undefined): Bag | undefined {
  if (pr === undefined) return undefined
  const ups = pr.userProperties
  const pairs = Array.isArray(ups)
    ? ups as Array<[string, string]>
    : Object.entries((ups ?? {}) as Record<string, string | string[]>).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string]))
  const sid = pr.subscriptionIdentifier
  const out = strip({
    sessionExpiryInterval: pr.sessionExpiryInterval, messageExpiryInterval: pr.messageExpiryInterval, receiveMaximum: pr.receiveMaximum,
    reasonString: pr.reasonString, contentType: pr.contentType, responseTopic: pr.responseTopic, correlationData: buf(pr.correlationData),
    subscriptionIdentifier: sid === undefined ? undefined : Array.isArray(sid) ? sid : [sid], maximumQoS: pr.maximumQoS,
    authenticationMethod: pr.authenticationMethod, authenticationData: buf(pr.authenticationData), willDelayInterval: pr.willDelayInterval,
    userProperties: pairs
  })
  return Object.keys(out).length === 0 ? undefined : out
}

/** The fields both codecs carry, in one shape. */
export function project (p: MqttPacket): Bag {
  const o = p as unknown as Bag
  const will = o.will as Bag | undefined
  return strip({
    cmd: p.type, messageId: o.packetId, topic: o.topic, payload: buf(o.payload), qos: o.qos, retain: o.retain, dup: o.dup,
    clientId: o.clientId, clean: o.clean, keepalive: o.keepalive, username: o.username, password: buf(o.password),
    will: will === undefined ? undefined : strip({ topic: will.topic, payload: buf(will.payload), qos: will.qos, retain: will.retain, properties: props(will.properties as Bag) }),
    sessionPresent: o.sessionPresent, reasonCode: o.reasonCode === 0 ? undefined : o.reasonCode, codes: o.reasonCodes,
    subscriptions: (o.subscriptions as Bag[] | undefined)?.map((s) => [s.topic, s.qos, s.noLocal === true, s.retainAsPublished === true, s.retainHandling ?? 0]),
    topics: o.topics, properties: props(o.properties as Bag)
  })
}

/** mqtt-packet's packet in the same projection. */
export function fromMqttPacket (mp: Packet): Bag {
  const o = mp as unknown as Bag
  const will = o.will as Bag | undefined
  const code = (o.reasonCode ?? o.returnCode) as number | undefined
  return strip({
    cmd: mp.cmd, messageId: o.messageId, topic: o.topic, payload: buf(o.payload), qos: mp.cmd === 'publish' ? o.qos : undefined,
    retain: mp.cmd === 'publish' ? o.retain : undefined, dup: mp.cmd === 'publish' ? o.dup : undefined,
    clientId: o.clientId, clean: o.clean, keepalive: o.keepalive, username: o.username, password: buf(o.password),
    will: will === undefined ? undefined : strip({ topic: will.topic, payload: buf(will.payload), qos: will.qos, retain: will.retain, properties: props(will.properties as Bag) }),
    sessionPresent: o.sessionPresent, reasonCode: code === 0 ? undefined : code, codes: o.granted,
    subscriptions: (o.subscriptions as Bag[] | undefined)?.map((s) => [s.topic, s.qos, s.nl === true, s.rap === true, s.rh ?? 0]),
    topics: o.unsubscriptions, properties: props(o.properties as Bag)
  })
}

function mpProps (pr: Properties | undefined): Bag | undefined {
  if (pr === undefined) return undefined
  const out: Bag = { ...pr }
  if (pr.userProperties !== undefined) {
    const up: Record<string, string[]> = {}
    for (const [k, v] of pr.userProperties) (up[k] ??= []).push(v)
    out.userProperties = up
  }
  if (pr.correlationData !== undefined) out.correlationData = Buffer.from(pr.correlationData)
  if (pr.authenticationData !== undefined) out.authenticationData = Buffer.from(pr.authenticationData)
  if (pr.subscriptionIdentifier !== undefined) out.subscriptionIdentifier = pr.subscriptionIdentifier.length === 1 ? pr.subscriptionIdentifier[0] : pr.subscriptionIdentifier
  if (pr.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = pr.payloadFormatIndicator === 1
  for (const k of ['retainAvailable', 'wildcardSubscriptionAvailable', 'sharedSubscriptionAvailable', 'subscriptionIdentifiersAvailable'] as const) {
    if (pr[k] !== undefined) out[k] = pr[k] === 1
  }
  return out
}

/** Our packet as an mqtt-packet packet, for mqtt-packet's generate(). */
export function toMqttPacket (p: MqttPacket): Packet {
  const o = p as unknown as Bag
  const will = o.will as Bag | undefined
  const out: Bag = { cmd: p.type, properties: mpProps(o.properties as Properties | undefined) }
  if (o.packetId !== undefined) out.messageId = o.packetId
  switch (p.type) {
    case 'connect':
      Object.assign(out, { protocolId: 'MQTT', protocolVersion: p.protocolVersion, clientId: p.clientId, clean: p.clean, keepalive: p.keepalive, username: p.username })
      if (p.password !== undefined) out.password = Buffer.from(p.password)
      if (will !== undefined) out.will = { ...will, payload: Buffer.from(will.payload as Uint8Array), properties: mpProps(will.properties as Properties | undefined) }
      break
    case 'connack': Object.assign(out, { sessionPresent: p.sessionPresent, reasonCode: p.reasonCode, returnCode: p.reasonCode }); break
    case 'publish': Object.assign(out, { topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup }); break
    case 'subscribe':
      out.subscriptions = p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos, nl: s.noLocal ?? false, rap: s.retainAsPublished ?? false, rh: s.retainHandling ?? 0 }))
      break
    case 'suback': case 'unsuback': out.granted = p.reasonCodes; break
    case 'unsubscribe': out.unsubscriptions = p.topics; break
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': case 'disconnect': case 'auth': out.reasonCode = p.reasonCode; break
    default: break
  }
  if (out.properties === undefined) delete out.properties
  return out as unknown as Packet
}
