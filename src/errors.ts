/**
 * One registry of coded errors (fastify's lib/errors.js is the model): every failure Starling
 * reports has a stable `code`, a message template and, where one exists, the MQTT reason code a
 * client sees. Never put a token, password or key into a message.
 */

export interface ErrorSpec {
  readonly message: string
  /** MQTT 5 reason code sent to the client (CONNACK, SUBACK, PUBACK or DISCONNECT), if any. */
  readonly reasonCode?: number
  /** MQTT 3.1.1 CONNACK return code, if the error refuses a connection. */
  readonly returnCode?: number
}

export const errorSpecs = {
  STARLING_ERR_CONFIG_INVALID: { message: 'invalid configuration: %s' },
  STARLING_ERR_CONFIG_FILE: { message: 'cannot read config file %s: %s' },
  STARLING_ERR_REDIS_UNAVAILABLE: { message: 'Redis (%s) did not answer within %s ms' },
  STARLING_ERR_LISTEN: { message: 'cannot listen on %s: %s' },
  STARLING_ERR_TLS_FILES: { message: 'cannot load TLS material for %s: %s' },
  STARLING_ERR_MAX_CONNECTIONS: { message: 'connection limit of %s reached', reasonCode: 0x97, returnCode: 3 },
  STARLING_ERR_CLIENT_ID_CONFLICT: { message: 'client id is already connected', reasonCode: 0x85, returnCode: 2 },
  STARLING_ERR_SERVER_DRAINING: { message: 'server is shutting down', reasonCode: 0x88, returnCode: 3 },
  STARLING_ERR_NOT_READY: { message: 'server is not ready', reasonCode: 0x88, returnCode: 3 },
  STARLING_ERR_TENANT_UNKNOWN: { message: 'no broker %s in namespace %s', reasonCode: 0x87, returnCode: 5 },
  STARLING_ERR_TENANT_MISMATCH: { message: 'the credential is for another broker than the endpoint %s', reasonCode: 0x87, returnCode: 5 },
  STARLING_ERR_CLIENT_ID_RESERVED: { message: 'client ids starting with $t/ are reserved', reasonCode: 0x85, returnCode: 2 },
  STARLING_ERR_WILL_TOPIC_RESERVED: { message: 'will topics starting with $t/ are reserved', reasonCode: 0x90, returnCode: 5 },
  STARLING_ERR_PUBLISH_DENIED: { message: 'publish to this topic is not allowed', reasonCode: 0x87 },
  STARLING_ERR_SUBSCRIBE_DENIED: { message: 'subscription to this filter is not allowed', reasonCode: 0x87 },
  STARLING_ERR_QUEUE_FULL: { message: 'offline queue of %s messages is full', reasonCode: 0x97 },
  STARLING_ERR_PROXY_HEADER: { message: 'invalid PROXY protocol header: %s' },
  STARLING_ERR_CLI_USAGE: { message: '%s' }
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof errorSpecs

function format (template: string, args: readonly unknown[]): string {
  let i = 0
  return template.replace(/%s/g, () => String(args[i++] ?? ''))
}

export class StarlingError extends Error {
  readonly code: ErrorCode
  readonly reasonCode: number | undefined
  readonly returnCode: number | undefined

  constructor (code: ErrorCode, args: readonly unknown[] = [], options?: { cause?: unknown }) {
    const spec: ErrorSpec = errorSpecs[code]
    super(format(spec.message, args), options)
    this.name = 'StarlingError'
    this.code = code
    this.reasonCode = spec.reasonCode
    this.returnCode = spec.returnCode
  }
}

export function starlingError (code: ErrorCode, ...args: unknown[]): StarlingError {
  return new StarlingError(code, args)
}

export function isStarlingError (err: unknown, code?: ErrorCode): err is StarlingError {
  return err instanceof StarlingError && (code === undefined || err.code === code)
}
