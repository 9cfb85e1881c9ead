import type { Client, Engine } from '../broker/engine.js'
import { ReasonCode } from '../constants.js'
import type { Logger } from '../logger.js'
import { filterSlot, type RouteLayout } from './emitter-route.js'
import type { RedisHealth } from './health.js'

/** Wait after Redis is back before the clients are asked to reconnect (resubscriptions land first). */
const SETTLE_MS = 250

/**
 * While this pod's Redis connections were down, messages for its connected persistent sessions
 * kept arriving in their offline queues in Redis (published by pods whose Redis came back
 * first) but not on this pod's pub/sub connection. A persistent session's queue is replayed
 * only when its client connects, so once Redis is back (and the pub/sub connection has
 * resubscribed) every persistent-session client that lived through the outage is disconnected
 * (v5: DISCONNECT 0x89 Server busy) and reconnects to get its queue [MQTT-4.4.0-1]. The will
 * is not published for this server-side restart of the connection: it stays stored and is
 * replaced when the client reconnects (published as usual if the pod later dies).
 */
export function resyncSessionsAfterOutage (broker: Engine, health: RedisHealth, logger: Logger): () => void {
  const connected = (): Client[] => Object.values(broker.clients)
  // Persistent-session clients connected when Redis went away (no CONNECT succeeds meanwhile).
  let affected: Set<Client> | undefined
  let timer: NodeJS.Timeout | undefined
  const off = health.onChange((up) => {
    if (!up) {
      clearTimeout(timer)
      affected ??= new Set()
      for (const client of connected()) if (!client.clean) affected.add(client)
      return
    }
    if (affected === undefined) return
    const clients = affected
    affected = undefined
    timer = setTimeout(() => {
      let count = 0
      for (const client of clients) {
        if (client.closed) continue
        client.disconnect({ reasonCode: ReasonCode.SERVER_BUSY, keepWill: true }, () => {})
        count++
      }
      if (count > 0) logger.warn({ clients: count }, 'persistent sessions reconnected to replay their queues after the redis outage')
    }, SETTLE_MS)
    timer.unref()
  })
  return () => { off(); clearTimeout(timer) }
}

/** Quiet time after the last dropped bus channel before the sessions listening there reconnect. */
const BUS_GAP_SETTLE_MS = 1500

/** The emitter's side of a bus gap (emitter.ts: 'resubscribing' with the channel indexes). */
export interface BusGapSource {
  readonly state: { on (event: 'resubscribing', listener: (channels: readonly number[]) => void): unknown, off (event: 'resubscribing', listener: (channels: readonly number[]) => void): unknown }
}

/**
 * Redis Cluster: when a bus channel's slot changes hands (resharding: its old master drops the
 * channel's subscribers; failover: the master and its subscriber connections are gone), this pod
 * subscribes again on the new owner; what was published on the channel in between reached the
 * pods already back, not this one. A connected persistent session
 * has those messages in its queue in Redis (the publishing pod queues every QoS ≥ 1 message for
 * every persistent session before it goes on the bus), but a queue is replayed only when its
 * client connects: so, once the channels have been quiet for BUS_GAP_SETTLE_MS (re-subscribed),
 * the persistent-session clients of this pod with a subscription on a dropped channel are asked
 * to reconnect (v5: DISCONNECT 0x89 Server busy, will kept, as after an outage) and get the
 * missed messages from their queue [MQTT-4.4.0-1]; messages they did get live and acknowledged
 * are no longer queued, those in flight come again with DUP=1. Clean sessions have no queue:
 * QoS 0 and 1 messages in that window are lost to them (docs/scaling.md).
 */
export function resyncSessionsAfterBusGap (broker: Engine, bus: BusGapSource, layout: RouteLayout, logger: Logger): () => void {
  let dropped = new Set<number>()
  let timer: NodeJS.Timeout | undefined
  const listener = (channels: readonly number[]): void => {
    for (const channel of channels) dropped.add(channel)
    clearTimeout(timer)
    timer = setTimeout(() => {
      const gap = dropped
      dropped = new Set()
      let count = 0
      for (const client of Object.values(broker.clients)) {
        if (client.clean || client.closed || !listensOn(client, gap, layout)) continue
        client.disconnect({ reasonCode: ReasonCode.SERVER_BUSY, keepWill: true }, () => {})
        count++
      }
      if (count > 0) logger.warn({ clients: count, channels: gap.size }, 'persistent sessions reconnected to replay their queues after bus channels moved')
    }, BUS_GAP_SETTLE_MS)
    timer.unref()
  }
  bus.state.on('resubscribing', listener)
  return () => { bus.state.off('resubscribing', listener); clearTimeout(timer) }
}

/** Whether one of the client's subscriptions (mounted filters, as on the bus) needs one of the channels; `$share` ones go through the groups' streams. */
function listensOn (client: Client, channels: ReadonlySet<number>, layout: RouteLayout): boolean {
  for (const filter of Object.keys(client.subscriptions)) {
    if (filter.startsWith('$share/')) continue
    const slot = filterSlot(filter, layout)
    if (slot === 'all' || channels.has(slot)) return true
  }
  return false
}
