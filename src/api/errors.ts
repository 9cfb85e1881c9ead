import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { StarlingError, type ErrorCode } from '../errors.js'
import type { Logger } from '../logger.js'

/**
 * HTTP status of each registry code the API can answer with; other StarlingErrors are 500.
 * Keyed by string so codes the stores add (src/tenancy, src/auth) can be listed here too.
 */
const STATUS: Readonly<Record<string, number>> = {
  STARLING_ERR_API_INVALID: 400,
  STARLING_ERR_TENANCY_INVALID: 400,
  STARLING_ERR_API_UNAUTHORIZED: 401,
  STARLING_ERR_API_FORBIDDEN: 403,
  STARLING_ERR_API_DISABLED: 403,
  STARLING_ERR_API_NOT_FOUND: 404,
  STARLING_ERR_TENANCY_NOT_FOUND: 404,
  STARLING_ERR_TENANCY_EXISTS: 409,
  STARLING_ERR_TENANCY_NOT_EMPTY: 409,
  STARLING_ERR_TENANCY_CONFLICT: 409,
  STARLING_ERR_SIGNING_KEY_LAST: 409,
  STARLING_ERR_REVOCATIONS_FULL: 409,
  STARLING_ERR_REDIS_UNAVAILABLE: 503,
  STARLING_ERR_NOT_READY: 503
} satisfies Partial<Record<ErrorCode | `STARLING_ERR_${string}`, number>>

export function statusOf (err: StarlingError): number {
  // Token errors from the authority (a bad kid, retiring the last key) are the caller's input.
  return STATUS[err.code] ?? (err.code.startsWith('STARLING_ERR_TOKEN_') ? 400 : 500)
}

export interface ApiError { readonly code: string, readonly message: string, readonly field?: string }

/** Cloudflare's envelope: `{ result, success, errors, messages }`, here with string error codes. */
export function envelope (result: unknown): { result: unknown, success: true, errors: [], messages: [] } {
  return { result, success: true, errors: [], messages: [] }
}

export function failure (errors: readonly ApiError[]): { result: null, success: false, errors: readonly ApiError[], messages: [] } {
  return { result: null, success: false, errors, messages: [] }
}

/** Validation failures carry the field they name (`body.name`, `query.number`). */
export class FieldError extends StarlingError {
  readonly field: string
  constructor (field: string, message: string) {
    super('STARLING_ERR_API_INVALID', [`${field}: ${message}`])
    this.field = field
  }
}

/** The stores' STARLING_ERR_TENANCY_INVALID messages are `<field>: <problem>`, the field named as the store knows it. */
function fieldOfStoreError (err: StarlingError): string | undefined {
  if (err.code !== 'STARLING_ERR_TENANCY_INVALID') return undefined
  const field = /^([A-Za-z][\w.[\]]*): /.exec(err.message)?.[1]
  return field
}

/**
 * The API's error handler: a StarlingError keeps its code and gets its status; fastify's own
 * request errors (bad JSON, too large, wrong content type) keep their 4xx status as
 * STARLING_ERR_API_INVALID; anything else is a 500 whose details go to the log only.
 */
export function sendError (logger: Logger | undefined) {
  return (err: FastifyError | StarlingError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (err instanceof StarlingError) {
      const status = statusOf(err)
      if (status >= 500) logger?.warn({ code: err.code, method: request.method, url: request.routeOptions.url }, 'management API request failed')
      if (status === 401) void reply.header('www-authenticate', 'Bearer realm="starling"')
      const field = err instanceof FieldError ? err.field : fieldOfStoreError(err)
      return reply.code(status).send(failure([{ code: err.code, message: err.message, ...(field !== undefined ? { field } : {}) }]))
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500
    if (status >= 400 && status < 500) {
      return reply.code(status).send(failure([{ code: 'STARLING_ERR_API_INVALID', message: err.message }]))
    }
    logger?.error({ err: { message: err.message, stack: err.stack }, method: request.method, url: request.routeOptions.url }, 'management API internal error')
    return reply.code(500).send(failure([{ code: 'STARLING_ERR_API_INTERNAL', message: new StarlingError('STARLING_ERR_API_INTERNAL', [request.id]).message }]))
  }
}
