import { clientIdentity } from '../auth/connect-auth.js'
import type { Client } from '../broker/engine.js'

/**
 * The `jti` of the token a client connected with (verified on CONNECT, src/auth/connect-auth.ts),
 * for the on-publish message's `jti` field; undefined without a token (auth type NONE), and the
 * field is then left out, as Cloudflare's `jti?` is.
 */
export function jtiOf (client: Client): string | undefined {
  return clientIdentity(client)?.token?.jti
}
