/**
 * MQTT constants Starling uses, in one place (aedes keeps its own in lib/constants.js, which its
 * package does not export; test/unit/constants.test.ts checks the two agree).
 */

/** MQTT 5 reason codes (CONNACK, PUBACK, SUBACK, DISCONNECT…) [MQTT-2.4]. */
export const ReasonCode = {
  SUCCESS: 0x00,
  DISCONNECT_WITH_WILL: 0x04,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USERNAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BANNED: 0x8A,
  SERVER_SHUTTING_DOWN: 0x8B,
  BAD_AUTHENTICATION_METHOD: 0x8C,
  KEEP_ALIVE_TIMEOUT: 0x8D,
  SESSION_TAKEN_OVER: 0x8E,
  TOPIC_FILTER_INVALID: 0x8F,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
  USE_ANOTHER_SERVER: 0x9C,
  SERVER_MOVED: 0x9D,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9E,
  CONNECTION_RATE_EXCEEDED: 0x9F
} as const

/** Reason codes from this value on are failures; below it, success or normal outcomes [MQTT-2.4]. */
export const REASON_CODE_ERROR_THRESHOLD = 0x80

/** MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2.3]. */
export const ConnackReturnCode = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5
} as const

/** Session Expiry Interval meaning "never" (MQTT 5 §3.1.2.11.2). */
export const SESSION_NEVER_EXPIRES = 0xFFFFFFFF

/** Receive Maximum of a client that did not send one [MQTT-3.1.2.11.3]. */
export const RECEIVE_MAXIMUM_DEFAULT = 65535

/** Largest Packet Identifier; identifiers are 1..this, 0 is not allowed [MQTT-2.2.1-3]. */
export const PACKET_ID_MAX = 65535

/** aedes' rule: a broker silent for this many heartbeats is dead (its wills and sessions are swept). */
export const SILENT_HEARTBEATS = 3

/** Source addresses whose CONNECT rate is remembered (`limits.connectRatePerAddress`); the least recent are forgotten. */
export const CONNECT_RATE_ADDRESSES = 10000
