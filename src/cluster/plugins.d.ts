/** Types for the parts of aedes' Redis plugins that ship none. */
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  interface AsyncRedisPersistenceOptions {
    /** An ioredis client (Redis or Cluster) to use instead of opening one. */
    conn?: unknown
    /** Set for Redis Cluster: the plugin then avoids multi-key commands. */
    cluster?: boolean
    maxSessionDelivery?: number
    packetTTL?: (packet: unknown) => number
  }
  type Packet = Record<string, unknown>
  class AsyncRedisPersistence {
    constructor (options: AsyncRedisPersistenceOptions)
    setup (broker: unknown): Promise<void>
    createRetainedStreamCombi (patterns: readonly string[]): AsyncIterable<Packet> | NodeJS.ReadableStream
    createRetainedStream (pattern: string): AsyncIterable<Packet> | NodeJS.ReadableStream
    outgoingStream (client: { id: string }): AsyncIterable<Packet> | NodeJS.ReadableStream
    streamWill (brokers?: Record<string, number>): AsyncIterable<Packet> | NodeJS.ReadableStream
    getClientList (topic: string): Iterable<string> | NodeJS.ReadableStream
    outgoingEnqueue (sub: { clientId: string }, packet: Packet): Promise<void>
    outgoingEnqueueCombi (subs: ReadonlyArray<{ clientId: string }> | undefined, packet: Packet): Promise<void>
    subscriptionsByClient (client: { id: string }): Promise<Packet[]>
    removeSubscriptions (client: { id: string }, subs: string[]): Promise<void>
    cleanSubscriptions (client: { id: string }): Promise<void>
    outgoingUpdate (client: { id: string }, packet: Packet): Promise<void>
    outgoingClearMessageId (client: { id: string }, packet: Packet): Promise<Packet | undefined>
    putWill (client: { id: string }, packet: Packet): Promise<void>
    delWill (client: { id: string, brokerId?: string }): Promise<Packet | null>
    destroy (): Promise<void>
  }
  export default AsyncRedisPersistence
}
