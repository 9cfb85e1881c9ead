import mqttPacket, { type Packet } from 'mqtt-packet'
import type { Random } from './random.js'

/**
 * Random MQTT 3.1.1 and 5 packets, built with mqtt-packet (so most are well-formed and reach the
 * broker's state machine, not only its parser), then optionally mutated at the byte level: bit
 * flips, truncation, a corrupt Remaining Length, splicing two packets, a rewritten fixed header,
 * inserted or duplicated bytes. Every choice comes from one seeded generator (random.ts), so a
 * run is reproduced by its seed.
 *
 * Client ids, topics and payload sizes come from small pools: the broker's stored state
 * (sessions, retained messages, offline queues) stays bounded however long the run, so memory
 * that does not return to its baseline is a leak, not state the fuzzer asked for.
 */

export type Version = 4 | 5

export const CLIENT_ID_POOL = 48
/** Retained messages (and retained wills) go to this many topics. */
export const RETAINED_TOPIC_POOL = 32
/** Filters are mostly taken from this many (persistent sessions keep what they subscribe). */
export const FILTER_POOL = 128
const TOPIC_WORDS = ['a', 'b', 'fuzz', 'x', '', 'sensor', '$SYS', '$share', 'é', '+', '#', 'long-level-name']
const MAX_PAYLOAD = 2048

const ALL_CMDS = ['connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'] as const
/**
 * What a client normally sends, weighted towards the packets with state behind them. DISCONNECT
 * and AUTH end or refuse the connection, so they come from the any-type draw (and DISCONNECT as
 * a connection's last packet, connection.ts) to let most packets reach the broker.
 */
const CLIENT_CMDS = ['publish', 'publish', 'publish', 'publish', 'subscribe', 'subscribe', 'unsubscribe', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq'] as const

/** A client id of the pool (`fz-<n>`), or now and then an empty or odd one. */
export function clientId (r: Random): string {
  const roll = r.int(20)
  if (roll === 0) return ''
  if (roll === 1) return r.string(r.int(30), 'ascii')
  return `fz-${r.int(CLIENT_ID_POOL)}`
}

export function topicName (r: Random, allowWildcards = false): string {
  const levels = 1 + r.int(r.chance(0.05) ? 120 : 4)
  const words: string[] = []
  for (let i = 0; i < levels; i++) {
    let word = r.pick(TOPIC_WORDS)
    if (!allowWildcards && (word === '+' || word === '#')) word = 'w'
    words.push(word)
  }
  if (r.chance(0.02)) words.push('\u0000')
  return words.join('/')
}

function randomFilter (r: Random): string {
  if (r.chance(0.1)) return `$share/${r.pick(['g', 'g2', '', 'a/b', '+'])}/${topicName(r, true)}`
  return topicName(r, true)
}

let filterPool: string[] = []

/** Builds the filter pool of a run from its own generator (call once, before any packet). */
export function buildPools (r: Random): void {
  filterPool = Array.from({ length: FILTER_POOL }, () => randomFilter(r))
}

/** A filter of the pool, one time in fifty any filter. */
function filter (r: Random): string {
  return filterPool.length > 0 && r.chance(0.98) ? r.pick(filterPool) : randomFilter(r)
}

function retainedTopic (r: Random): string {
  return `fuzz/r/${r.int(RETAINED_TOPIC_POOL)}`
}

function payload (r: Random): Buffer {
  const size = r.chance(0.7) ? r.int(64) : r.int(MAX_PAYLOAD)
  return r.bytes(size)
}

function userProperties (r: Random): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = r.int(3); i > 0; i--) out[r.string(1 + r.int(8), 'ascii')] = r.chance(0.3) ? [r.string(r.int(8), 'ascii'), r.string(r.int(8), 'ascii')] : r.string(r.int(16), 'ascii')
  return out
}

function maybe<T> (r: Random, p: number, value: () => T): T | undefined {
  return r.chance(p) ? value() : undefined
}

/** Drops undefined fields (mqtt-packet writes a property it finds, even undefined, for some). */
function defined<T extends object> (value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

function publishProperties (r: Random): Record<string, unknown> | undefined {
  if (!r.chance(0.5)) return undefined
  return defined({
    payloadFormatIndicator: maybe(r, 0.2, () => r.chance(0.5)),
    messageExpiryInterval: maybe(r, 0.2, () => r.int(5)),
    topicAlias: maybe(r, 0.2, () => r.int(200)),
    responseTopic: maybe(r, 0.1, () => topicName(r)),
    correlationData: maybe(r, 0.1, () => r.bytes(r.int(16))),
    userProperties: maybe(r, 0.2, () => userProperties(r)),
    subscriptionIdentifier: maybe(r, 0.05, () => r.int(300)),
    contentType: maybe(r, 0.1, () => r.string(r.int(12), 'ascii'))
  })
}

/** Mostly success, sometimes another code valid somewhere, now and then any byte. */
function reason (r: Random): number {
  if (r.chance(0.8)) return 0
  return r.chance(0.75) ? r.pick([0x10, 0x80, 0x83, 0x87, 0x8e, 0x90, 0x91, 0x92, 0x97]) : r.int(256)
}

function ackProperties (r: Random): Record<string, unknown> | undefined {
  return r.chance(0.2) ? defined({ reasonString: maybe(r, 0.5, () => r.string(r.int(20), 'ascii')), userProperties: maybe(r, 0.5, () => userProperties(r)) }) : undefined
}

export function connectPacket (r: Random, version: Version): Packet {
  const id = clientId(r)
  // only the pool's ids keep a session: others (and server-assigned ones) would add one each
  const pooled = id.startsWith('fz-')
  const clean = !pooled || r.chance(0.7)
  const willRetain = r.chance(0.3)
  const will = r.chance(0.2)
    ? defined({
      topic: willRetain ? retainedTopic(r) : topicName(r),
      payload: payload(r),
      qos: r.int(3) as 0 | 1 | 2,
      retain: willRetain,
      properties: version === 5 && r.chance(0.5) ? defined({ willDelayInterval: maybe(r, 0.5, () => r.int(3)), messageExpiryInterval: maybe(r, 0.3, () => r.int(10)), contentType: maybe(r, 0.2, () => 'text/plain'), userProperties: maybe(r, 0.2, () => userProperties(r)) }) : undefined
    })
    : undefined
  return defined({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clientId: id,
    clean,
    keepalive: r.pick([0, 1, 10, 60, 65535]),
    username: maybe(r, 0.2, () => r.string(r.int(16), 'ascii')),
    password: maybe(r, 0.15, () => r.bytes(r.int(16))),
    will,
    properties: version === 5 && r.chance(0.6)
      ? defined({
        sessionExpiryInterval: pooled ? maybe(r, 0.4, () => r.pick([0, 1, 5, 0xffffffff])) : undefined,
        receiveMaximum: maybe(r, 0.3, () => 1 + r.int(100)),
        maximumPacketSize: maybe(r, 0.2, () => r.pick([20, 100, 1024, 1 << 20])),
        topicAliasMaximum: maybe(r, 0.3, () => r.int(20)),
        requestResponseInformation: maybe(r, 0.2, () => r.chance(0.5)),
        requestProblemInformation: maybe(r, 0.2, () => r.chance(0.5)),
        userProperties: maybe(r, 0.2, () => userProperties(r)),
        authenticationMethod: maybe(r, 0.05, () => r.string(r.int(10), 'ascii'))
      })
      : undefined
  }) as unknown as Packet
}

/** One random packet of `cmd` (any type when omitted; after CONNECT, mostly what a client sends). */
export function randomPacket (r: Random, version: Version, cmd?: Packet['cmd']): Packet {
  const type = cmd ?? (r.chance(0.97) ? r.pick(CLIENT_CMDS) : r.pick(ALL_CMDS))
  const messageId = r.chance(0.95) ? 1 + r.int(20) : r.int(65536)
  const v5 = version === 5
  switch (type) {
    case 'connect':
      return connectPacket(r, version)
    case 'connack':
      return defined({ cmd: 'connack', sessionPresent: r.chance(0.5), ...(v5 ? { reasonCode: reason(r) } : { returnCode: r.int(6) }) }) as unknown as Packet
    case 'publish': {
      const qos = r.int(3) as 0 | 1 | 2
      const retain = r.chance(0.2)
      return defined({
        cmd: 'publish',
        topic: retain ? retainedTopic(r) : r.chance(0.05) && v5 ? '' : topicName(r),
        payload: retain && r.chance(0.2) ? Buffer.alloc(0) : payload(r),
        qos,
        retain,
        dup: r.chance(0.1),
        messageId: qos > 0 ? messageId : undefined,
        properties: v5 ? publishProperties(r) : undefined
      }) as unknown as Packet
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return defined({ cmd: type, messageId, reasonCode: v5 && r.chance(0.5) ? reason(r) : undefined, properties: v5 ? ackProperties(r) : undefined }) as unknown as Packet
    case 'subscribe':
      return defined({
        cmd: 'subscribe',
        messageId,
        subscriptions: Array.from({ length: 1 + r.int(4) }, () => defined({
          topic: filter(r),
          qos: r.int(3) as 0 | 1 | 2,
          nl: v5 ? r.chance(0.2) : undefined,
          rap: v5 ? r.chance(0.2) : undefined,
          rh: v5 ? r.int(3) : undefined
        })),
        properties: v5 && r.chance(0.3) ? defined({ subscriptionIdentifier: maybe(r, 0.7, () => r.int(400)), userProperties: maybe(r, 0.3, () => userProperties(r)) }) : undefined
      }) as unknown as Packet
    case 'suback':
      return { cmd: 'suback', messageId, granted: [r.int(3), 0x80] } as unknown as Packet
    case 'unsubscribe':
      return defined({ cmd: 'unsubscribe', messageId, unsubscriptions: Array.from({ length: 1 + r.int(3) }, () => filter(r)), properties: v5 && r.chance(0.2) ? { userProperties: userProperties(r) } : undefined }) as unknown as Packet
    case 'unsuback':
      return defined({ cmd: 'unsuback', messageId, granted: v5 ? [0] : undefined }) as unknown as Packet
    case 'pingreq':
    case 'pingresp':
      return { cmd: type } as Packet
    case 'disconnect':
      return defined({ cmd: 'disconnect', reasonCode: v5 && r.chance(0.5) ? r.pick([0, 4, 0x80, 0x81, 0x82]) : undefined, properties: v5 && r.chance(0.3) ? defined({ sessionExpiryInterval: maybe(r, 0.5, () => r.int(10)), reasonString: maybe(r, 0.3, () => 'bye') }) : undefined }) as unknown as Packet
    case 'auth':
      return defined({ cmd: 'auth', reasonCode: r.pick([0, 0x18, 0x19]), properties: r.chance(0.5) ? { authenticationMethod: r.string(r.int(8), 'ascii'), authenticationData: r.bytes(r.int(8)) } : undefined }) as unknown as Packet
  }
}

/** The bytes of `packet`; a packet mqtt-packet refuses to encode becomes random bytes. */
export function encode (r: Random, packet: Packet, version: Version): Buffer {
  try {
    return mqttPacket.generate(packet, { protocolVersion: version })
  } catch {
    return r.bytes(1 + r.int(32))
  }
}

export type Mutation = 'flip' | 'truncate' | 'length' | 'splice' | 'header' | 'insert' | 'duplicate'
export const MUTATIONS: readonly Mutation[] = ['flip', 'truncate', 'length', 'splice', 'header', 'insert', 'duplicate']

/** A Remaining Length field: valid, too large, or an over-long (5-byte) varint. */
function lengthBytes (r: Random): Buffer {
  switch (r.int(4)) {
    case 0: return Buffer.from([r.int(128)])
    case 1: return Buffer.from([0x80 | r.int(128), r.int(128)])
    case 2: return Buffer.from([0xff, 0xff, 0xff, 0x7f]) // 268,435,455: the maximum
    default: return Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]) // a fifth length byte
  }
}

/** `bytes` changed by one mutation (`other`: a second packet for splicing). */
export function mutate (r: Random, bytes: Buffer, other: Buffer, mutation: Mutation = r.pick(MUTATIONS)): Buffer {
  if (bytes.length === 0) return r.bytes(1 + r.int(8))
  const out = Buffer.from(bytes)
  switch (mutation) {
    case 'flip':
      for (let i = 1 + r.int(4); i > 0; i--) {
        const at = r.int(out.length)
        out[at] = (out[at] ?? 0) ^ (1 << r.int(8))
      }
      return out
    case 'truncate':
      return out.subarray(0, r.int(out.length))
    case 'length': {
      // the fixed header's Remaining Length replaced; the body kept as it was
      let end = 1
      while (end < out.length && end < 5 && ((out[end] ?? 0) & 0x80) !== 0) end++
      return Buffer.concat([out.subarray(0, 1), lengthBytes(r), out.subarray(Math.min(end + 1, out.length))])
    }
    case 'splice':
      return Buffer.concat([out.subarray(0, r.int(out.length)), other.subarray(r.int(Math.max(other.length, 1)))])
    case 'header':
      out[0] = r.int(256) // reserved types 0 and 15, flags the type forbids
      return out
    case 'insert': {
      const at = r.int(out.length)
      return Buffer.concat([out.subarray(0, at), r.bytes(1 + r.int(8)), out.subarray(at)])
    }
    case 'duplicate': {
      const from = r.int(out.length)
      const to = Math.min(out.length, from + 1 + r.int(16))
      return Buffer.concat([out.subarray(0, to), out.subarray(from, to), out.subarray(to)])
    }
  }
}
