import type { Duplex } from 'node:stream'
import type { ConnectionOrigin } from '../broker/observe.js'

/** What a listener hands to the broker: a byte stream and where it came from. */
export type ConnectionHandler = (stream: Duplex, origin: ConnectionOrigin) => void

/** A started listener. `close()` stops accepting; it does not end open connections (the broker does). */
export interface Listener {
  readonly name: string
  readonly address: { readonly host: string, readonly port: number }
  close (): Promise<void>
}
