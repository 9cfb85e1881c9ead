import type { Client, Engine } from '../broker/engine.js'
import { ReasonCode } from '../constants.js'
import type { Logger } from '../logger.js'
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
