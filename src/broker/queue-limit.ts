import type { Readable } from 'node:stream'
import type { OutgoingPersistence, QueuedPacket, QueueSub as Sub } from './engine.js'
import { StarlingError } from '../errors.js'

/**
 * A per-session cap on the outgoing queue (QoS 1/2 messages stored for persistent sessions),
 * as a wrapper around any aedes persistence (in-memory today, Redis later). It uses only the
 * persistence interface aedes itself calls, so whatever backend sits underneath is unchanged.
 *
 * Counting: each session's length is kept as a local estimate — +1 per enqueue, -1 per cleared
 * message — and recounted from the persistence (LLEN where the persistence offers
 * `outgoingQueueLength`, else by reading `outgoingStream`) when a session is first seen, when the
 * estimate reaches the limit, or when it is older than `recountMs` (in a cluster other pods
 * enqueue and clear too). Recounts run in the background, one at a time per session, and the
 * admission decision never waits for them: enqueues reach the persistence in arrival order
 * [MQTT-4.6.0-6] and cost no extra round trip. The cap is therefore exact on one node and may be
 * overshot by the messages of one recount's round trip in a cluster.
 */

export interface QueueLimitOptions {
  /** Messages one session may have queued; further ones are dropped for that session. */
  readonly maxQueued: number
  /** Called once per message dropped for a session (count it, log it). */
  readonly onDrop: (clientId: string) => void
  /**
   * Whether the session may ever read this message (the ACL rules every client shares): one it
   * may not is not queued for it, so it takes no place (its replay would drop it anyway).
   */
  readonly readable?: (clientId: string, packet: QueuedPacket) => boolean
  /** Re-read a session's queue length from the persistence after this long (ms). */
  readonly recountMs?: number
  readonly now?: () => number
}

interface Estimate { count: number, at: number }

/** Longest remembered list of dropped (session, message) keys, so live delivery of them is not an error. */
const MAX_DROPPED_KEYS = 10000

function messageKey (clientId: string, packet: QueuedPacket): string {
  return `${clientId}\u0000${packet.brokerId ?? ''}\u0000${packet.brokerCounter ?? ''}`
}

async function countStream (stream: Readable): Promise<number> {
  let n = 0
  for await (const _ of stream) n++
  return n
}

/**
 * Caps each session's outgoing queue of `persistence`, in place: its four outgoing-queue methods
 * are replaced on the instance (own properties) and the originals called bound to it. Not a
 * Proxy: aedes reads a persistence method per message, and a proxy's `get` trap cost ~0.1 µs
 * per message one-to-one (docs/benchmarks.md, issue 12). None of these methods calls another
 * through `this` in the persistences Starling wraps (aedes' in-memory one, redis-persistence.ts),
 * so nothing is counted twice. Returns `persistence`.
 */
export function withQueueLimit<P extends OutgoingPersistence> (persistence: P, options: QueueLimitOptions): P {
  const inner: OutgoingPersistence = {
    outgoingEnqueue: persistence.outgoingEnqueue.bind(persistence),
    outgoingEnqueueCombi: persistence.outgoingEnqueueCombi.bind(persistence),
    outgoingUpdate: persistence.outgoingUpdate.bind(persistence),
    outgoingClearMessageId: persistence.outgoingClearMessageId.bind(persistence),
    outgoingStream: persistence.outgoingStream.bind(persistence),
    ...(persistence.outgoingQueueLength !== undefined ? { outgoingQueueLength: persistence.outgoingQueueLength.bind(persistence) } : {})
  }
  const now = options.now ?? Date.now
  const recountMs = options.recountMs ?? 5000
  const estimates = new Map<string, Estimate>()
  const dropped = new Set<string>()

  const countQueued = (clientId: string): Promise<number> => inner.outgoingQueueLength !== undefined
    ? inner.outgoingQueueLength({ id: clientId })
    : countStream(inner.outgoingStream({ id: clientId }))
  const counting = new Set<string>()

  /** Re-reads a session's length in the background, keeping the local changes made meanwhile. */
  const recount = (clientId: string, estimate: Estimate): void => {
    if (counting.has(clientId)) return
    counting.add(clientId)
    const before = estimate.count
    estimate.at = now()
    countQueued(clientId).then((count) => {
      estimate.count = Math.max(0, count + estimate.count - before)
    }, () => {
      estimate.at = -Infinity // try again on the next enqueue
    }).finally(() => counting.delete(clientId))
  }

  /** Admits one message for a session (and counts it) unless its queue is full. */
  const admit = (clientId: string): boolean => {
    let estimate = estimates.get(clientId)
    if (estimate === undefined) {
      estimate = { count: 0, at: -Infinity }
      estimates.set(clientId, estimate)
    }
    // Recount from half the cap on: in a cluster the clears happen on another pod, so a fast
    // stream reaches the cap in the estimate long before `recountMs`, and waiting until the cap
    // dropped the messages of one recount round trip for a session whose real queue was short.
    if (estimate.count * 2 >= options.maxQueued || now() - estimate.at >= recountMs) recount(clientId, estimate)
    if (estimate.count >= options.maxQueued) return false
    estimate.count++
    return true
  }

  const remember = (key: string): void => {
    if (dropped.size >= MAX_DROPPED_KEYS) {
      const oldest = dropped.values().next().value
      if (oldest !== undefined) dropped.delete(oldest)
    }
    dropped.add(key)
  }

  /** Enqueues the message for the sessions with room; the rest drop it. */
  const enqueue = (subs: readonly Sub[], packet: QueuedPacket): Promise<void> => {
    const readable = options.readable
    const admitted = subs.filter((sub) => {
      if (readable !== undefined && !readable(sub.clientId, packet)) return false
      if (admit(sub.clientId)) return true
      remember(messageKey(sub.clientId, packet))
      options.onDrop(sub.clientId)
      return false
    })
    if (admitted.length === 0) return Promise.resolve()
    return inner.outgoingEnqueueCombi(admitted.length === subs.length ? subs : admitted, packet)
  }

  const overrides: Pick<OutgoingPersistence, 'outgoingEnqueue' | 'outgoingEnqueueCombi' | 'outgoingUpdate' | 'outgoingClearMessageId'> = {
    outgoingEnqueue: (sub, packet) => enqueue([sub], packet),
    // aedes calls this for every QoS 1/2 PUBLISH, usually with no offline session to queue for
    outgoingEnqueueCombi: (subs, packet) => subs.length === 0 ? inner.outgoingEnqueueCombi(subs, packet) : enqueue(subs, packet),
    // No async frame; and with no drop remembered, no handler either (the inner promise as it is:
    // nothing to forgive, as a message is dropped at enqueue, before its delivery).
    outgoingUpdate (client, packet) {
      const update = inner.outgoingUpdate(client, packet)
      if (dropped.size === 0) return update
      return update.then(undefined, (err: unknown) => {
        // A message dropped from a full queue still reaches a connected session live; it is
        // just not stored, so aedes must not treat the missing entry as a fatal error.
        if (!dropped.delete(messageKey(client.id, packet))) throw err
      })
    },
    // Every PUBACK / PUBCOMP passes here. A session with no estimate has nothing counted to take
    // back (an estimate is forgotten only at 0, and the next enqueue recounts it), so the inner
    // call's promise is handed on as it is: no async frame, no second promise per acknowledgement.
    outgoingClearMessageId (client, packet) {
      if (!estimates.has(client.id)) return inner.outgoingClearMessageId(client, packet)
      return inner.outgoingClearMessageId(client, packet).then((cleared) => {
        uncount(client.id, cleared)
        return cleared
      })
    }
  }

  /** A message left the session's queue: its estimate goes down by one. */
  const uncount = (clientId: string, cleared: QueuedPacket | undefined): void => {
    const estimate = estimates.get(clientId)
    if (cleared !== undefined && cleared !== null && estimate !== undefined) {
      estimate.count = Math.max(0, estimate.count - 1)
      // An empty queue is forgotten (bounded memory); the next enqueue recounts it once.
      if (estimate.count === 0 && !counting.has(clientId)) estimates.delete(clientId)
    }
  }

  return Object.assign(persistence, overrides)
}

interface DropCounter { inc (labels: { reason: string }): void }
interface WarnLogger { warn (obj: object, msg: string): void }

/**
 * The `onDrop` Starling uses: counts every drop in `starling_messages_dropped_total{reason="queue_full"}`
 * and logs at most one line per `intervalMs` (with how many were dropped since the last line and
 * the last session affected; never a payload).
 */
export function queueFullReporter (counter: DropCounter, logger: WarnLogger, maxQueued: number, intervalMs = 10000, now: () => number = Date.now): (clientId: string) => void {
  let lastLog = -Infinity
  let since = 0
  return function onQueueFull (clientId) {
    counter.inc({ reason: 'queue_full' })
    since++
    if (now() - lastLog < intervalMs) return
    const { code, message } = new StarlingError('STARLING_ERR_QUEUE_FULL', [maxQueued])
    logger.warn({ code, err: message, clientId, dropped: since, maxQueuedMessages: maxQueued }, 'offline queue full, dropping messages for session')
    lastLog = now()
    since = 0
  }
}
