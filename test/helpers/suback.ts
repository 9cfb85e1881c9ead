import type { ISubackPacket, Packet } from 'mqtt-packet'
import type { RawClient } from './raw-client.js'

let nextId = 1

/** Sends one SUBSCRIBE of `topics` at `qos` and resolves with its SUBACK's codes (mqtt.js rejects any refusal). */
export async function subackCodes (client: RawClient, topics: readonly string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  const messageId = nextId++
  client.send({ cmd: 'subscribe', messageId, subscriptions: topics.map((topic) => ({ topic, qos })) } as Packet)
  const suback = await client.next<ISubackPacket>('suback', 5000, (p) => p.messageId === messageId)
  return suback.granted as number[]
}
