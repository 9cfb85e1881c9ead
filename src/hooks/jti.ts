import type { Client } from '../broker/engine.js'

/**
 * The `jti` of the token a client connected with, for the on-publish message's `jti` field.
 * The CONNECT token step attaches it (`attachJti`) once it has verified the token; a client
 * without a token (auth type NONE, the default broker without auth) has none and the field is
 * left out of its messages, as Cloudflare's `jti?` is.
 */
const jtis = new WeakMap<Client, string>()

export function attachJti (client: Client, jti: string | undefined): void {
  if (jti === undefined) jtis.delete(client)
  else jtis.set(client, jti)
}

export function jtiOf (client: Client): string | undefined {
  return jtis.get(client)
}
