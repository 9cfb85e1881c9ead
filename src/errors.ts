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
  STARLING_ERR_REDIS_SCRIPT: { message: 'Redis script %s gave up: %s' },
  STARLING_ERR_LISTEN: { message: 'cannot listen on %s: %s' },
  STARLING_ERR_UNKNOWN_LISTENER: { message: 'no listener named %s' },
  STARLING_ERR_STORED_VALUE: { message: '%s skipped: %s' },
  STARLING_ERR_BUS_FRAME: { message: 'cluster bus frame: %s' },
  STARLING_ERR_CLOSED: { message: '%s is closed' },
  STARLING_ERR_LOCAL_CLUSTER: { message: 'local cluster: %s' },
  STARLING_ERR_TLS_FILES: { message: 'cannot load TLS material for %s: %s' },
  STARLING_ERR_ENGINE_UNPATCHED: { message: 'aedes is not patched for Starling (patch revision %s, expected %s): run npm install without --ignore-scripts, so patch-package applies patches/' },
  STARLING_ERR_MAX_CONNECTIONS: { message: 'connection limit of %s reached', reasonCode: 0x97, returnCode: 3 },
  STARLING_ERR_CLIENT_ID_CONFLICT: { message: 'client id is already connected', reasonCode: 0x85, returnCode: 2 },
  STARLING_ERR_SERVER_DRAINING: { message: 'server is shutting down', reasonCode: 0x88, returnCode: 3 },
  STARLING_ERR_NOT_READY: { message: 'server is not ready', reasonCode: 0x88, returnCode: 3 },
  STARLING_ERR_TENANT_UNKNOWN: { message: 'no broker %s in namespace %s', reasonCode: 0x87, returnCode: 5 },
  STARLING_ERR_TENANT_MISMATCH: { message: 'the credential is for another broker than the endpoint %s', reasonCode: 0x87, returnCode: 5 },
  STARLING_ERR_CLIENT_ID_RESERVED: { message: 'client ids starting with $t/ are reserved', reasonCode: 0x85, returnCode: 2 },
  STARLING_ERR_WILL_TOPIC_RESERVED: { message: 'will topics starting with $t/ are reserved', reasonCode: 0x90, returnCode: 5 },
  STARLING_ERR_MQTT_AUTH: { message: 'auth over MQTT: %s' },
  STARLING_ERR_PUBLISH_DENIED: { message: 'publish to this topic is not allowed', reasonCode: 0x87 },
  // [MQTT5 3.2.2.2] 0x87 Not authorized / [MQTT-3.1.1 3.2.2.3] return code 5
  STARLING_ERR_WILL_DENIED: { message: 'the ACL does not allow publishing to the will topic', reasonCode: 0x87, returnCode: 5 },
  // The message starts as aedes' persistences' own answer, which the replay recognizes (aedes lib/queue-drain.js storedPacketGone)
  STARLING_ERR_INCOMING_GONE: { message: 'no such packet: the QoS 2 message %s awaiting PUBREL is not stored' },
  STARLING_ERR_OUTGOING_GONE: { message: 'no such packet: message %s is no longer in the session queue' },
  STARLING_ERR_QUEUE_FULL: { message: 'offline queue of %s messages is full', reasonCode: 0x97 },
  // Per-client and per-installation limits (README "Limits"). 0x97 Quota exceeded: an
  // administrative limit [MQTT5 §2.4]; CONNACK refusals are return code 3 in 3.1.1 (it has no quota code).
  STARLING_ERR_SUBSCRIPTIONS_LIMIT: { message: 'client already has %s subscriptions (limits.maxSubscriptionsPerClient)', reasonCode: 0x97 },
  STARLING_ERR_SHARE_GROUPS_LIMIT: { message: '%s shared subscription groups reached (%s)', reasonCode: 0x97 },
  // 0x8F Topic Filter invalid: "correctly formed, but not accepted by this Server" (§3.9.3)
  STARLING_ERR_SHARE_NAME: { message: 'shared subscription group name refused: %s', reasonCode: 0x8F },
  STARLING_ERR_FILTER_LIMIT: { message: 'topic filter refused: %s', reasonCode: 0x8F },
  // 0x90 Topic Name invalid: "correctly formed, but not accepted by this Client or Server" (§3.4.2.1)
  STARLING_ERR_TOPIC_LIMIT: { message: 'topic name refused: %s', reasonCode: 0x90 },
  STARLING_ERR_WILL_TOO_LARGE: { message: 'will payload of %s bytes is over limits.maxWillPayloadBytes (%s)', reasonCode: 0x97, returnCode: 3 },
  // PUBACK/PUBREC 0x97 Quota exceeded: 0x96 Message rate too high is a DISCONNECT code only, not
  // among the PUBACK/PUBREC reason codes (§3.4.2.1, §3.5.2.1)
  STARLING_ERR_PUBLISH_RATE: { message: 'publish %s above limits.%s', reasonCode: 0x97 },
  // 0x9F Connection rate exceeded (CONNACK §3.2.2.2)
  STARLING_ERR_RETAINED_LIMIT: { message: 'the installation already keeps %s retained messages (limits.maxRetainedMessages)', reasonCode: 0x97 },
  STARLING_ERR_RETAINED_BYTES_LIMIT: { message: 'the retained messages would hold more than %s payload bytes (limits.maxRetainedBytes)', reasonCode: 0x97 },
  STARLING_ERR_SESSIONS_LIMIT: { message: 'the installation already keeps %s persistent sessions (limits.maxPersistentSessions)', reasonCode: 0x97, returnCode: 3 },
  STARLING_ERR_CONNECT_RATE: { message: 'too many CONNECTs from this address (limits.connectRatePerAddress)', reasonCode: 0x9F, returnCode: 3 },
  STARLING_ERR_PROXY_HEADER: { message: 'invalid PROXY protocol header: %s' },
  STARLING_ERR_CLI_USAGE: { message: '%s' },
  STARLING_ERR_TENANCY_NOT_FOUND: { message: '%s not found' },
  STARLING_ERR_TENANCY_EXISTS: { message: '%s already exists' },
  STARLING_ERR_TENANCY_INVALID: { message: '%s: %s' },
  STARLING_ERR_TENANCY_NOT_EMPTY: { message: '%s' },
  STARLING_ERR_TENANCY_CONFLICT: { message: '%s changed concurrently too often; try again' },
  STARLING_ERR_DATA_DIR: { message: 'data directory %s: %s' },
  STARLING_ERR_SECRET_KEY_MISSING: { message: 'auth.secretKey (STARLING_SECRET_KEY) is required in cluster mode: signing keys in Redis are encrypted with it' },
  STARLING_ERR_SECRET_KEY_MISMATCH: { message: 'cannot decrypt %s: auth.secretKey is not the key it was encrypted with' },
  STARLING_ERR_SIGNING_KEY_LAST: { message: 'signing key %s is the last active key of broker %s; rotate first' },
  STARLING_ERR_REVOCATIONS_FULL: { message: 'broker %s already keeps %s revocations (auth.revocationsMax)' },
  // [MQTT5 3.2.2.2] 0x86 Bad User Name or Password / [MQTT-3.1.1 3.2.2.3] return code 4
  STARLING_ERR_TOKEN_INVALID: { message: 'token is malformed or its signature does not verify (%s)', reasonCode: 0x86, returnCode: 4 },
  STARLING_ERR_TOKEN_EXPIRED: { message: 'token has expired', reasonCode: 0x86, returnCode: 4 },
  STARLING_ERR_TOKEN_NOT_YET_VALID: { message: 'token is not valid yet', reasonCode: 0x86, returnCode: 4 },
  // 0x87 Not Authorized / return code 5
  STARLING_ERR_TOKEN_REVOKED: { message: 'token has been revoked', reasonCode: 0x87, returnCode: 5 },
  STARLING_ERR_TOKEN_WRONG_BROKER: { message: 'token was issued for another broker', reasonCode: 0x87, returnCode: 5 },
  // No credential for a broker that needs one: not authorized, as Mosquitto 2 answers an anonymous client
  STARLING_ERR_TOKEN_MISSING: { message: 'this broker needs a token (CONNECT password, or username)', reasonCode: 0x87, returnCode: 5 },
  // 0x85 Client Identifier not valid / return code 2 "identifier rejected"
  STARLING_ERR_TOKEN_CLIENT_ID: { message: 'client id does not match the token', reasonCode: 0x85, returnCode: 2 },
  // 0x88 Server unavailable / return code 3: the identity provider, not the client, is at fault
  STARLING_ERR_JWKS_UNAVAILABLE: { message: 'JWKS of broker %s cannot be fetched: %s', reasonCode: 0x88, returnCode: 3 },
  STARLING_ERR_API_INVALID: { message: '%s' },
  STARLING_ERR_API_NOT_FOUND: { message: 'no route %s %s' },
  STARLING_ERR_API_UNAUTHORIZED: { message: 'a bearer token is required (Authorization: Bearer <admin token>)' },
  STARLING_ERR_API_FORBIDDEN: { message: 'the bearer token is not an admin token' },
  STARLING_ERR_API_DISABLED: { message: 'management API disabled: %s' },
  STARLING_ERR_API_INTERNAL: { message: 'internal error (%s)' },
  STARLING_ERR_API_UNREACHABLE: { message: 'cannot reach the management API at %s: %s' },
  STARLING_ERR_API_RESPONSE: { message: 'unexpected answer from the management API (HTTP %s): %s' },
  // Per-broker quotas (src/quotas): [MQTT5 3.2.2.2] CONNACK 0x97 Quota exceeded / 3.1.1 return code 3
  STARLING_ERR_QUOTA_CONNECTIONS: { message: 'broker %s has reached its quota of %s connections', reasonCode: 0x97, returnCode: 3 },
  // [MQTT5 3.4.2.1] PUBACK / PUBREC 0x97 Quota exceeded: 0x96 Message rate too high is a
  // DISCONNECT code only, not valid in an acknowledgement (clients reject the packet). 3.1.1:
  // acknowledged and dropped [MQTT-3.3.5-2].
  STARLING_ERR_QUOTA_PUBLISH_RATE: { message: 'broker %s publish rate quota of %s messages/s exceeded', reasonCode: 0x97 },
  STARLING_ERR_QUOTA_BYTES_RATE: { message: 'broker %s quota of %s payload bytes/s exceeded', reasonCode: 0x97 },
  STARLING_ERR_HOOK_FAILED: { message: 'on-publish hook failed (%s): message dropped', reasonCode: 0x83 },
  STARLING_ERR_HOOK_ANSWER: { message: 'on-publish hook answer: %s' },
  STARLING_ERR_HOOK_REFUSED: { message: 'on-publish hook refused the message (403)', reasonCode: 0x87 },
  // A success code: aedes (our patch) acknowledges it as accepted and does not publish it.
  STARLING_ERR_HOOK_FILTERED: { message: 'on-publish hook kept the message from subscribers', reasonCode: 0x00 }
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

/**
 * An error reported by another process (the management API's JSON answer) rebuilt with its code
 * and message as sent; an unknown code becomes STARLING_ERR_API_RESPONSE.
 */
export function errorFromWire (code: string, message: string, status: number): StarlingError {
  if (!Object.hasOwn(errorSpecs, code)) return new StarlingError('STARLING_ERR_API_RESPONSE', [status, `${code}: ${message}`])
  const err = new StarlingError(code as ErrorCode)
  err.message = message
  return err
}
