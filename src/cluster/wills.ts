import type { Aedes, Client, PublishPacket } from 'aedes'
import type { Logger } from '../logger.js'

/** How long closing the emitter waits for wills still being published (a drain's). */
const PENDING_WILLS_MS = 3000

interface AedesWillInternals {
  readonly id: string
  readonly persistence: { delWill (client: { id: string, brokerId: string }): Promise<unknown> }
  readonly mq: { close (cb: () => void): void }
  publishWill (client: Client, will: PublishPacket): void
  authorizePublish (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void
  publish (packet: PublishPacket, client: Client | null, done: (err?: Error) => void): void
}

/**
 * In cluster mode a will is published only by the pod that takes it out of Redis
 * (StarlingRedisPersistence.delWill claims it). When the client has connected again on another
 * pod meanwhile, that pod's CONNECT removed the stored will, so a delayed will timed here is not
 * published [MQTT-3.1.2-8] [MQTT-3.1.3-9]; aedes' own check sees only this pod's clients.
 * The dead-pod sweep (aedes `_clearWills`, patched to claim before publishing) uses the same claim.
 * A drain closes the emitter right after the clients: closing waits (bounded) for the wills of
 * the clients it closed, which are published since the server ended their connections.
 */
export function publishWillsOnClaim (broker: Aedes, logger: Logger): void {
  const internals = broker as unknown as AedesWillInternals
  const pending = new Set<Promise<void>>()

  const claimAndPublish = async (client: Client, will: PublishPacket): Promise<void> => {
    const claimed = await internals.persistence.delWill({ id: client.id, brokerId: internals.id })
    if (claimed === null || claimed === undefined) {
      logger.debug({ clientId: client.id }, 'will not published: the client is back or another pod published it')
      return
    }
    const packet = willAsPublish(will)
    await new Promise<void>((resolve, reject) => {
      internals.authorizePublish(client, packet, (err) => {
        if (err !== null && err !== undefined) { resolve(); return }
        internals.publish(packet, client, (err2) => { if (err2 !== undefined && err2 !== null) reject(err2); else resolve() })
      })
    })
  }

  internals.publishWill = (client, will) => {
    const job = claimAndPublish(client, will)
      .catch((err: Error) => logger.warn({ err: err.message, clientId: client.id }, 'will not published'))
      .finally(() => pending.delete(job))
    pending.add(job)
  }

  const closeEmitter = internals.mq.close.bind(internals.mq)
  internals.mq.close = (cb) => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, PENDING_WILLS_MS) })
    void Promise.race([Promise.allSettled([...pending]), late]).then(() => {
      clearTimeout(timer)
      closeEmitter(cb)
    })
  }
}

/** Will Delay Interval is a CONNECT will property, not one of PUBLISH (as aedes' willAsPublish). */
function willAsPublish (will: PublishPacket): PublishPacket {
  const properties = (will as { properties?: Record<string, unknown> }).properties
  if (properties === undefined || properties.willDelayInterval === undefined) return will
  const { willDelayInterval: _delay, ...rest } = properties
  return { ...will, properties: rest } as PublishPacket
}
