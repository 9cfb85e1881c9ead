import type { FastifyReply, FastifyRequest } from 'fastify'
import { StarlingError } from '../errors.js'
import { bearerOf, type BearerTokens } from './bearer.js'

/**
 * onRequest hook for admin-only routes (`/v1/...`, `/cluster`): no admin token configured → 403
 * (the API is disabled, never open); no bearer token → 401 with `WWW-Authenticate: Bearer`;
 * another token → 403.
 */
export function adminGuard (tokens: BearerTokens) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (tokens.size === 0) throw new StarlingError('STARLING_ERR_API_DISABLED', ['no admin token is configured (set STARLING_ADMIN_TOKEN, api.adminTokens or api.adminTokenFile)'])
    const presented = bearerOf(request.headers.authorization)
    if (presented === undefined) throw new StarlingError('STARLING_ERR_API_UNAUTHORIZED')
    if (!tokens.matches(presented)) throw new StarlingError('STARLING_ERR_API_FORBIDDEN')
  }
}
