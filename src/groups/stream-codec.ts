import type { ShareMessage } from './queue.js'
import { restoreUserPropertyOrder, userPropertyOrder } from '../broker/user-properties.js'

/**
 * A group message as a Redis Stream entry: field `m` is a JSON header (topic, QoS, retain,
 * MQTT 5 properties with Buffers as base64, expiry, enqueue time, the User Properties' order,
 * which JSON drops [MQTT-3.3.2-18]), field `p` the raw payload.
 */
export function encodeEntry (message: ShareMessage): [string, string, string, Buffer] {
  const fields = {
    t: message.topic,
    q: message.qos,
    r: message.retain ? 1 : 0,
    p: message.properties,
    x: message.messageExpiry,
    at: message.enqueuedAt,
    o: userPropertyOrder(message)
  }
  // The replacer (called for every value) only where a property holds a Buffer (Correlation Data).
  const header = hasBuffer(message.properties) ? JSON.stringify(fields, bufferToBase64) : JSON.stringify(fields)
  return ['m', header, 'p', message.payload]
}

function bufferToBase64 (_key: string, value: unknown): unknown {
  return isBufferJson(value) ? { $b: Buffer.from(value.data).toString('base64') } : value
}

function hasBuffer (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return true
  for (const inner of Object.values(value)) if (hasBuffer(inner)) return true
  return false
}

function base64ToBuffer (_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && typeof (value as { $b?: unknown }).$b === 'string') return Buffer.from((value as { $b: string }).$b, 'base64')
  return value
}

interface Header { t: string, q: 0 | 1 | 2, r: 0 | 1, p?: Record<string, unknown>, x?: number, at: number, o?: string[] }

/**
 * Decodes the flat field list of a stream entry; undefined for an entry this layout did not
 * write, or a corrupt one (a header that is not JSON, or whose topic or QoS could not be a
 * PUBLISH's): anyone with access to Redis can XADD anything, and a throw here would fail the
 * group's whole read batch again on every claim.
 */
export function decodeEntry (fields: readonly Buffer[] | null | undefined): ShareMessage | undefined {
  if (fields === null || fields === undefined) return undefined
  let header: Header | undefined
  let payload: Buffer | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]?.toString()
    if (name === 'm') {
      try {
        const text = (fields[i + 1] as Buffer).toString()
        // The reviver (called for every value) only where the encoder wrote a Buffer.
        header = (text.includes('"$b"') ? JSON.parse(text, base64ToBuffer) : JSON.parse(text)) as Header
      } catch {
        return undefined
      }
    } else if (name === 'p') {
      payload = fields[i + 1]
    }
  }
  if (header === undefined || header === null || typeof header !== 'object' || payload === undefined) return undefined
  if (typeof header.t !== 'string' || header.t.length === 0 || (header.q !== 0 && header.q !== 1 && header.q !== 2)) return undefined
  if (header.p !== undefined && header.p !== null && typeof header.p !== 'object') return undefined
  const message: ShareMessage = {
    topic: header.t,
    payload,
    qos: header.q,
    retain: header.r === 1,
    ...(header.p !== undefined && header.p !== null ? { properties: header.p } : {}),
    ...(typeof header.x === 'number' ? { messageExpiry: header.x } : {}),
    enqueuedAt: header.at
  }
  restoreUserPropertyOrder(message, header.o)
  return message
}

function isBufferJson (value: unknown): value is { type: 'Buffer', data: number[] } {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)
}
