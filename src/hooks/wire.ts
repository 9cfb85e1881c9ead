import { isValidTopicName } from '../broker/topics.js'
import { StarlingError } from '../errors.js'

const malformed = (problem: string): StarlingError => new StarlingError('STARLING_ERR_HOOK_ANSWER', [problem])

/**
 * The on-publish wire format, Cloudflare Pub/Sub's: the broker POSTs a JSON array of these; the
 * hook answers 200 with the array of those to deliver (mutated, fewer or the same).
 *
 * Binary payloads (Payload Format Indicator 0 or absent) travel base64-encoded with
 * `payloadEncoding: "base64"` (Cloudflare types the field `string | Uint8Array` but documents no
 * JSON form for bytes). An answered message's payload is decoded the same way: base64 when it
 * says `payloadEncoding: "base64"`, else the string's UTF-8 bytes.
 */
export interface HookMessage {
  /** Message id, unique on this pod: how an answer's messages are matched to the ones sent. */
  readonly mid: number
  readonly broker: string
  readonly namespace: string
  /** As the publisher sees it (the tenant mount removed). */
  readonly topic: string
  /** As the publisher sees it (the tenant scope removed). */
  readonly clientId: string
  readonly jti?: string
  /** Seconds since the epoch, when the broker received the PUBLISH. */
  readonly receivedAt: number
  /** The PUBLISH's Content Type, '' when none. */
  readonly contentType: string
  /** 1: the payload is UTF-8 text [MQTT5 3.3.2.3.2]; 0: bytes. */
  readonly payloadFormatIndicator: 0 | 1
  readonly payload: string
  readonly payloadEncoding?: 'base64'
}

export interface HookInput {
  readonly mid: number
  readonly broker: string
  readonly namespace: string
  readonly topic: string
  readonly clientId: string
  readonly jti: string | undefined
  readonly receivedAt: number
  readonly contentType: string | undefined
  readonly payloadFormatIndicator: boolean | number | undefined
  readonly payload: Buffer | string
}

export function toHookMessage (input: HookInput): HookMessage {
  const text = input.payloadFormatIndicator === true || input.payloadFormatIndicator === 1
  const bytes = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload
  return {
    mid: input.mid,
    broker: input.broker,
    namespace: input.namespace,
    topic: input.topic,
    clientId: input.clientId,
    ...(input.jti !== undefined ? { jti: input.jti } : {}),
    receivedAt: input.receivedAt,
    contentType: input.contentType ?? '',
    payloadFormatIndicator: text ? 1 : 0,
    ...(text ? { payload: bytes.toString('utf8') } : { payload: bytes.toString('base64'), payloadEncoding: 'base64' as const })
  }
}

/** A message the hook returned, as it will be published. */
export interface HookResult {
  readonly topic: string
  readonly payload: Buffer
  readonly payloadFormatIndicator: 0 | 1
  readonly contentType: string
}

/** A message answered exactly as it was sent. */
export const UNCHANGED = 'unchanged'

/** What the answer says of each message sent: its new form, UNCHANGED, or absent (kept from subscribers). */
export type AnswerMap = Map<number, HookResult | typeof UNCHANGED>

/**
 * Reads a 200 answer: a JSON array of messages. Each is matched to the one sent by its `mid`;
 * an answer whose messages carry no `mid` must list as many as were sent (matched by position).
 * Throws STARLING_ERR_HOOK_ANSWER (a malformed answer, the whole batch fails) on anything else, or on a message whose
 * topic is not a valid topic name [MQTT-4.7.3-1], starts with `$`, or whose payload is not a string.
 */
export function parseAnswer (text: string, sent: readonly HookMessage[]): AnswerMap {
  const body: unknown = JSON.parse(text)
  if (!Array.isArray(body)) throw malformed('answer is not a JSON array')
  const byMid = new Map(sent.map((m) => [m.mid, m]))
  const withMid = body.every((m) => typeof m === 'object' && m !== null && typeof (m as { mid?: unknown }).mid === 'number')
  if (!withMid && body.length !== sent.length) throw malformed('answer messages have no mid and their count differs from the batch')
  const out: AnswerMap = new Map()
  body.forEach((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw malformed(`answer[${i}] is not an object`)
    const m = raw as Record<string, unknown>
    const original = withMid ? byMid.get(m.mid as number) : sent[i]
    if (original === undefined) throw malformed(`answer[${i}] has an unknown mid`)
    if (out.has(original.mid)) return // one message in, at most one out
    const topic = m.topic ?? original.topic
    if (typeof topic !== 'string' || (topic !== original.topic && (topic === '' || topic.startsWith('$') || !isValidTopicName(topic)))) throw malformed(`answer[${i}].topic is not a valid topic name`)
    const payload = m.payload
    if (typeof payload !== 'string') throw malformed(`answer[${i}].payload is not a string`)
    const pfi = m.payloadFormatIndicator === undefined ? original.payloadFormatIndicator : m.payloadFormatIndicator
    if (pfi !== 0 && pfi !== 1) throw malformed(`answer[${i}].payloadFormatIndicator is not 0 or 1`)
    const contentType = m.contentType ?? original.contentType
    if (typeof contentType !== 'string') throw malformed(`answer[${i}].contentType is not a string`)
    // A message answered as sent is published as it is (no decoding, no copy).
    if (topic === original.topic && payload === original.payload && pfi === original.payloadFormatIndicator &&
        contentType === original.contentType && m.payloadEncoding === original.payloadEncoding) {
      out.set(original.mid, UNCHANGED)
      return
    }
    const bytes = m.payloadEncoding === 'base64' ? Buffer.from(payload, 'base64') : Buffer.from(payload, 'utf8')
    out.set(original.mid, { topic, payload: bytes, payloadFormatIndicator: pfi, contentType })
  })
  return out
}
