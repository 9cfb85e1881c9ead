/**
 * Packet objects of the k6 MQTT codec (mqtt-codec.ts): one interface per control packet of
 * MQTT 3.1.1 and 5.0 (section numbers as in mqtt-wire.ts).
 */
import type { Properties } from './mqtt-wire.ts'

export type ProtocolVersion = 4 | 5
export type QoS = 0 | 1 | 2

export interface Will { topic: string, payload: Uint8Array, qos: QoS, retain: boolean, properties?: Properties }
export interface ConnectPacket {
  type: 'connect', protocolVersion: ProtocolVersion, clientId: string, clean: boolean, keepalive: number
  username?: string, password?: Uint8Array, will?: Will, properties?: Properties
}
/** `reasonCode` is the 3.1.1 Connect Return Code (§3.2.2.3) or the 5.0 Connect Reason Code (§3.2.2.2). */
export interface ConnackPacket { type: 'connack', sessionPresent: boolean, reasonCode: number, properties?: Properties }
export interface PublishPacket {
  type: 'publish', topic: string, payload: Uint8Array, qos: QoS, retain: boolean, dup: boolean
  packetId?: number, properties?: Properties
}
export type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'
/** PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4–3.7). `reasonCode` is 0 for 3.1.1 and when omitted in 5.0 (§3.4.2.1). */
export interface AckPacket { type: AckType, packetId: number, reasonCode: number, properties?: Properties }
export interface Subscription { topic: string, qos: QoS, noLocal?: boolean, retainAsPublished?: boolean, retainHandling?: 0 | 1 | 2 }
export interface SubscribePacket { type: 'subscribe', packetId: number, subscriptions: Subscription[], properties?: Properties }
/** SUBACK return codes (3.1.1 §3.9.3) / reason codes (5.0 §3.9.3): granted QoS 0–2, or ≥ 0x80 for failure. */
export interface SubackPacket { type: 'suback', packetId: number, reasonCodes: number[], properties?: Properties }
export interface UnsubscribePacket { type: 'unsubscribe', packetId: number, topics: string[], properties?: Properties }
/** UNSUBACK has reason codes in 5.0 only (§3.11.3); empty for 3.1.1. */
export interface UnsubackPacket { type: 'unsuback', packetId: number, reasonCodes: number[], properties?: Properties }
export interface PingPacket { type: 'pingreq' | 'pingresp' }
/** DISCONNECT (§3.14); reason code and properties exist in 5.0 only. AUTH (5.0 §3.15) has the same shape. */
export interface DisconnectPacket { type: 'disconnect' | 'auth', reasonCode: number, properties?: Properties }

export type MqttPacket = ConnectPacket | ConnackPacket | PublishPacket | AckPacket | SubscribePacket | SubackPacket |
  UnsubscribePacket | UnsubackPacket | PingPacket | DisconnectPacket
