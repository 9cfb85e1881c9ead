import { z } from 'zod'
import { isValidFilter } from '../broker/topics.js'
import { parseDurationSeconds } from './duration.js'

/**
 * The management API's request and response shapes. Each zod schema validates requests (through
 * the route's validator, src/api/management.ts) and is converted to JSON Schema for
 * `/openapi.json` (src/api/openapi.ts), so the two cannot drift apart.
 */

/** RFC 1035 label: a letter, then letters, digits or hyphens, not ending in a hyphen, at most 63. */
export const dnsLabel = z.string()
  .regex(/^[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, 'an RFC 1035 label: a letter, then letters, digits or "-", at most 63, not ending in "-"')
  .meta({ description: 'RFC 1035 label (case-insensitive; stored in lower case)', example: 'my-namespace' })

const authType = z.enum(['TOKEN', 'JWKS', 'NONE'])
const description = z.string().max(1024)
/** A topic filter in a query; empty is allowed and ignored, since curl drops a bare `#` (`topicAcl=#`) as a URL fragment. */
const filter = z.string().max(1024).refine((f) => f === '' || isValidFilter(f), 'a valid MQTT topic filter')
const oneOrMore = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)])

export const namespaceParams = z.object({ ns: dnsLabel }).strict()
const brokerName = dnsLabel.meta({ example: 'example-broker' })
export const brokerParams = z.object({ ns: dnsLabel, broker: brokerName }).strict()
export const keyParams = z.object({ ns: dnsLabel, broker: brokerName, kid: z.string().min(1).max(256) }).strict()

export const deviceParams = z.object({ ns: dnsLabel, broker: brokerName, device: z.string().min(1).max(64) }).strict()
export const deviceCreate = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit').meta({ description: 'Device name (the part before ":" in the auth-over-MQTT client id)', example: 'temperature-sensor' }),
  description: description.optional(),
  key: z.string().regex(/^[\x21-\x39\x3b-\x7e]{16,256}$/, '16 to 256 printable characters without ":" or spaces').optional().meta({ description: 'A chosen key; default: 32 random characters. Shown once, stored hashed (scrypt)' })
}).strict()

export const namespaceCreate = z.object({ name: dnsLabel, description: description.optional() }).strict()
export const namespacePatch = z.object({ description: description.optional() }).strict()

const jwksSettings = z.object({
  url: z.url({ protocol: /^https?$/ }).meta({ description: 'JWKS URL of the identity provider' }),
  issuer: z.string().min(1),
  audience: z.string().min(1),
  clientIdClaim: z.string().min(1).default('sub').meta({ description: 'Claim holding the MQTT client id' }),
  publishClaim: z.string().min(1).optional(),
  subscribeClaim: z.string().min(1).optional()
}).strict()

const quotas = z.object({
  maxConnections: z.number().int().min(0).optional(),
  publishRatePerSecond: z.number().int().min(0).optional(),
  bytesPerSecond: z.number().int().min(0).optional(),
  maxRetained: z.number().int().min(0).optional()
}).strict().meta({ description: 'Cluster-wide limits; 0: no limit' })

const onPublishSettings = {
  url: z.url({ protocol: /^https?$/ }).meta({ description: 'Endpoint the broker POSTs each batch of messages to (Cloudflare Pub/Sub on-publish contract, signed with the broker\'s key)' }),
  filter: z.array(filter).max(100).optional().meta({ description: 'Topic filters (topics as clients see them); only matching messages go to the hook. Absent: every message' }),
  failurePolicy: z.enum(['drop', 'deliver']).optional().meta({ description: 'When the hook fails (other status than 200, time-out, malformed answer, open circuit breaker): drop the message (default, as Cloudflare) or deliver it unchanged' }),
  timeoutMs: z.number().int().min(1).max(60_000).optional().meta({ description: 'Answer time limit (default hooks.timeoutMs, 10 s)' }),
  batchSize: z.number().int().min(1).max(1000).optional().meta({ description: 'Most messages per request (default hooks.batchSize)' }),
  lingerMs: z.number().int().min(0).max(1000).optional().meta({ description: 'How long a batch may wait to fill (default hooks.lingerMs)' }),
  concurrency: z.number().int().min(1).max(256).optional().meta({ description: 'Requests in flight per broker and pod (default hooks.concurrency)' })
}
const onPublish = z.object(onPublishSettings).strict().meta({ description: 'On-publish hook (README "On-publish hooks")' })

const brokerSettings = {
  description: description.optional(),
  authType: authType.optional().meta({ description: 'How clients authenticate (default TOKEN)' }),
  jwks: jwksSettings.optional().meta({ description: 'Required with authType JWKS' }),
  quotas: quotas.optional(),
  tokenExpiryAction: z.enum(['disconnect', 'keep']).optional()
}

export const brokerCreate = z.object({ name: dnsLabel, ...brokerSettings, onPublish: onPublish.optional() }).strict()
  .refine((b) => b.authType !== 'JWKS' || b.jwks !== undefined, { path: ['jwks'], message: 'required with authType JWKS' })
export const brokerPatch = z.object({ ...brokerSettings, onPublish: onPublish.nullable().optional().meta({ description: 'null removes the hook' }) }).strict()

/** Duration: seconds, or a number with s/m/h/d/w (`48h`). */
const duration = z.union([z.string(), z.number()]).refine((v) => parseDurationSeconds(String(v)) !== undefined, 'a positive duration: seconds, or a number with s, m, h, d or w (e.g. 48h)')

export const credentialsQuery = z.object({
  number: z.string().regex(/^\d+$/, 'an integer from 1 to 100').refine((v) => Number(v) >= 1 && Number(v) <= 100, 'an integer from 1 to 100').optional()
    .meta({ description: 'How many credentials (1–100, default 1)' }),
  type: z.literal('TOKEN').optional().meta({ description: 'Credential type; only TOKEN' }),
  expiration: duration.optional().meta({ description: 'Lifetime: seconds or `48h`-style; absent: no expiry' }),
  clientId: z.string().min(1).max(256).regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters').optional().meta({ description: 'A chosen client id (only with number=1); default: a ULID each' }),
  topicAcl: oneOrMore(filter).optional().meta({ description: 'Filters the client may publish to and subscribe within (repeat for several; empty values are ignored); absent: no limit from the token' }),
  publishAcl: oneOrMore(filter).optional().meta({ description: 'Filters the client may publish to (with topicAcl: added)' }),
  subscribeAcl: oneOrMore(filter).optional().meta({ description: 'Filters the client may subscribe within (with topicAcl: added)' })
}).strict().refine((q) => q.clientId === undefined || q.number === undefined || q.number === '1', { path: ['clientId'], message: 'only with number=1' })

export const revocationQuery = z.object({
  jti: oneOrMore(z.string().min(1).max(256)).optional().meta({ description: 'Token ids (repeat for several: `?jti=a&jti=b`)' })
}).strict()
export const revocationBody = z.object({
  jti: oneOrMore(z.string().min(1).max(256)).meta({ description: 'Token id or ids' })
}).strict()

export const usageQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Count messages and bytes from this time (ISO 8601); default: as far back as the node counts' })
}).strict()

// Responses (documentation only: handlers return the stores' records as they are).
const timestamps = { created_on: z.iso.datetime(), modified_on: z.iso.datetime() }
export const namespaceRecord = z.object({ id: z.string(), name: z.string(), description: z.string(), ...timestamps })
export const brokerRecord = z.object({
  id: z.string(),
  name: z.string(),
  namespace: z.string(),
  description: z.string(),
  authType,
  jwks: jwksSettings.optional(),
  quotas: z.object({ maxConnections: z.number(), publishRatePerSecond: z.number(), bytesPerSecond: z.number(), maxRetained: z.number() }),
  tokenExpiryAction: z.enum(['disconnect', 'keep']),
  onPublish: z.object({ ...onPublishSettings, failurePolicy: z.enum(['drop', 'deliver']) }).optional(),
  endpoint: z.string().meta({ example: 'mqtts://example-broker.my-namespace.example.com:8883' }),
  publicKey: z.string(),
  ...timestamps
})
export const credentials = z.record(z.string(), z.string()).meta({ description: 'Client id → token', example: { '01G3A5GBJE5P3GPXJZ72X4X8SA': 'eyJhbGciOiJFZERTQSIs...' } })
export const revocation = z.object({ jti: z.string(), revoked_on: z.iso.datetime() })
export const jwks = z.object({ keys: z.array(z.record(z.string(), z.string())) }).meta({ description: 'JSON Web Key Set (RFC 7517): the broker\'s Ed25519 public keys' })
export const device = z.object({ name: z.string(), description: z.string(), created_on: z.iso.datetime() })
export const deviceCreated = device.extend({ key: z.string().meta({ description: 'The device key: shown only in this answer' }) })
export const keyRotated = z.object({ kid: z.string() })
export const usage = z.object({
  connections: z.number().int().meta({ description: 'Connected clients now, cluster-wide' }),
  since: z.iso.datetime(),
  messagesIn: z.number().int(),
  messagesOut: z.number().int(),
  bytesIn: z.number().int(),
  bytesOut: z.number().int()
})

export type CredentialsQuery = z.infer<typeof credentialsQuery>
