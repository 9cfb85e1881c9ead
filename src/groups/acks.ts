import type { Client } from '../broker/engine.js'
import type { GroupDispatcher, Member } from './dispatcher.js'

/**
 * Routes a member's acknowledgement (aedes' `onPublishAcked`: PUBACK, PUBCOMP, or a refusal,
 * which discards the message [MQTT-4.8.2-6]) back to the group that sent the message.
 */
export class AckRouter {
  readonly #byClient = new WeakMap<Client, Map<number, { member: Member, dispatcher: GroupDispatcher }>>()

  track (client: Client, messageId: number, member: Member, dispatcher: GroupDispatcher): void {
    let ids = this.#byClient.get(client)
    if (ids === undefined) {
      ids = new Map()
      this.#byClient.set(client, ids)
    }
    ids.set(messageId, { member, dispatcher })
  }

  untrack (client: Client, messageId: number): void {
    this.#byClient.get(client)?.delete(messageId)
  }

  /** Whether `messageId` is a group message in flight to `client`. */
  tracks (client: Client, messageId: number): boolean {
    return this.#byClient.get(client)?.has(messageId) === true
  }

  /** aedes' hook; identifiers of ordinary (non-group) deliveries are not tracked and ignored. */
  acked (client: Client, messageId: number): GroupDispatcher | undefined {
    const ids = this.#byClient.get(client)
    const entry = ids?.get(messageId)
    if (entry === undefined) return undefined
    ids?.delete(messageId)
    entry.dispatcher.acked(entry.member, messageId)
    return entry.dispatcher
  }
}
