import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { z } from 'zod'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { BrokerRecord, TenancyStore, TokenAuthority, TopicAclClaims } from '../tenancy/types.js'
import { adminGuard } from './admin-guard.js'
import type { BearerTokens } from './bearer.js'
import { parseDurationSeconds } from './duration.js'
import { envelope, FieldError, sendError } from './errors.js'
import * as s from './schemas.js'
import type { DeviceStore } from '../mqtt-auth/devices.js'
import { spaceOfBroker, TRIGGER_TOPICS, type TriggerPublisher } from '../events/index.js'

/** What a broker did, for `GET .../usage`; the node computes it from its metrics. */
export interface BrokerUsage {
  /** Clients connected now, cluster-wide. */
  readonly connections: number
  /** ISO 8601 start of the counted period (the `since` asked for, or the earliest the source has). */
  readonly since: string
  readonly messagesIn: number
  readonly messagesOut: number
  readonly bytesIn: number
  readonly bytesOut: number
}

export interface UsageSource {
  usage (broker: BrokerRecord, since: Date | undefined): Promise<BrokerUsage>
}

/** The stores the management API drives. */
export interface ManagementDeps {
  readonly tenancy: TenancyStore
  readonly tokens: TokenAuthority
  readonly usage: UsageSource
  /** Devices of auth over MQTT; absent: the devices routes answer that this pod has none. */
  readonly devices?: DeviceStore
  /** `$trigger/device/created|deleted` when a device is registered or deleted. */
  readonly events?: TriggerPublisher
}

function devicesOf (deps: ManagementDeps): DeviceStore {
  if (deps.devices === undefined) throw new StarlingError('STARLING_ERR_API_DISABLED', ['this pod has no device store'])
  return deps.devices
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'

export interface ApiRoute {
  readonly method: Method
  /** fastify path (`/v1/namespaces/:ns`); OpenAPI gets `{ns}`. */
  readonly url: string
  readonly operationId: string
  readonly summary: string
  readonly params?: z.ZodObject
  readonly querystring?: z.ZodObject
  readonly body?: z.ZodType
  /** Schema of `result` in the success envelope (null for deletions). */
  readonly result: z.ZodType | null
  readonly handle: (request: FastifyRequest, deps: ManagementDeps) => Promise<unknown>
}

const NS = '/v1/namespaces'
const BROKER = `${NS}/:ns/brokers/:broker`

const list = <T>(value: T | readonly T[] | undefined): T[] => value === undefined ? [] : Array.isArray(value) ? [...value as T[]] : [value as T]

interface Params { ns: string, broker: string, kid: string, device: string }
const params = (request: FastifyRequest): Params => {
  const p = request.params as Partial<Params>
  return { ns: p.ns?.toLowerCase() ?? '', broker: p.broker?.toLowerCase() ?? '', kid: p.kid ?? '', device: p.device ?? '' }
}
const brokerOf = async (request: FastifyRequest, deps: ManagementDeps): Promise<BrokerRecord> => {
  const { ns, broker } = params(request)
  return await deps.tenancy.getBroker(ns, broker)
}

/** jti(s) from the query (`?jti=a&jti=b`, as Cloudflare's API takes them) and/or a JSON body `{ "jti": [...] }`. */
function jtisOf (request: FastifyRequest): string[] {
  const fromQuery = list((request.query as { jti?: string | string[] }).jti)
  const body = request.body as { jti?: string | string[] } | null | undefined
  const jtis = [...new Set([...fromQuery, ...list(body?.jti)])]
  if (jtis.length === 0) throw new FieldError('query.jti', 'at least one token id (?jti=... or a JSON body { "jti": [...] })')
  return jtis
}

function topicAclOf (query: s.CredentialsQuery): TopicAclClaims | undefined {
  const filters = (value: string | readonly string[] | undefined): string[] => list(value).filter((f) => f !== '')
  const both = filters(query.topicAcl)
  const publish = [...new Set([...both, ...filters(query.publishAcl)])]
  const subscribe = [...new Set([...both, ...filters(query.subscribeAcl)])]
  if (publish.length === 0 && subscribe.length === 0) return undefined
  return { ...(publish.length > 0 ? { publish } : {}), ...(subscribe.length > 0 ? { subscribe } : {}) }
}

async function issueCredentials (request: FastifyRequest, deps: ManagementDeps): Promise<Record<string, string>> {
  const query = request.query as s.CredentialsQuery
  const broker = await brokerOf(request, deps)
  if (broker.authType !== 'TOKEN') throw new FieldError('broker', `authType is ${broker.authType}: only TOKEN brokers issue credentials`)
  const expiresInSeconds = query.expiration === undefined ? undefined : parseDurationSeconds(String(query.expiration))
  const topicAcl = topicAclOf(query)
  return await deps.tokens.issue(broker, {
    number: query.number === undefined ? 1 : Number(query.number),
    ...(expiresInSeconds !== undefined ? { expiresInSeconds } : {}),
    ...(query.clientId !== undefined ? { clientId: query.clientId } : {}),
    ...(topicAcl !== undefined ? { topicAcl } : {})
  })
}

const credentialsRoute = (method: Method, operationId: string, summary: string): ApiRoute => ({
  method, url: `${BROKER}/credentials`, operationId, summary, params: s.brokerParams, querystring: s.credentialsQuery, result: s.credentials, handle: issueCredentials
})

/** Every route of `/v1`, in the order of the OpenAPI document. */
export const apiRoutes: readonly ApiRoute[] = [
  { method: 'POST', url: NS, operationId: 'createNamespace', summary: 'Create a namespace', body: s.namespaceCreate, result: s.namespaceRecord,
    handle: async (r, d) => { const b = r.body as z.infer<typeof s.namespaceCreate>; return await d.tenancy.createNamespace({ ...b, name: b.name.toLowerCase() }) } },
  { method: 'GET', url: NS, operationId: 'listNamespaces', summary: 'List namespaces', result: s.namespaceRecord.array(),
    handle: async (_r, d) => await d.tenancy.listNamespaces() },
  { method: 'GET', url: `${NS}/:ns`, operationId: 'getNamespace', summary: 'Describe a namespace', params: s.namespaceParams, result: s.namespaceRecord,
    handle: async (r, d) => await d.tenancy.getNamespace(params(r).ns) },
  { method: 'PATCH', url: `${NS}/:ns`, operationId: 'updateNamespace', summary: 'Update a namespace', params: s.namespaceParams, body: s.namespacePatch, result: s.namespaceRecord,
    handle: async (r, d) => await d.tenancy.updateNamespace(params(r).ns, r.body as z.infer<typeof s.namespacePatch>) },
  { method: 'DELETE', url: `${NS}/:ns`, operationId: 'deleteNamespace', summary: 'Delete an empty namespace (409 while it has brokers)', params: s.namespaceParams, result: null,
    handle: async (r, d) => { await d.tenancy.deleteNamespace(params(r).ns); return null } },
  { method: 'POST', url: `${NS}/:ns/brokers`, operationId: 'createBroker', summary: 'Create a broker', params: s.namespaceParams, body: s.brokerCreate, result: s.brokerRecord,
    handle: async (r, d) => { const b = r.body as z.infer<typeof s.brokerCreate>; return await d.tenancy.createBroker(params(r).ns, { ...b, name: b.name.toLowerCase() }) } },
  { method: 'GET', url: `${NS}/:ns/brokers`, operationId: 'listBrokers', summary: 'List the brokers of a namespace', params: s.namespaceParams, result: s.brokerRecord.array(),
    handle: async (r, d) => await d.tenancy.listBrokers(params(r).ns) },
  { method: 'GET', url: BROKER, operationId: 'getBroker', summary: 'Describe a broker', params: s.brokerParams, result: s.brokerRecord,
    handle: brokerOf },
  { method: 'PATCH', url: BROKER, operationId: 'updateBroker', summary: 'Update a broker\'s settings', params: s.brokerParams, body: s.brokerPatch, result: s.brokerRecord,
    handle: async (r, d) => { const p = params(r); return await d.tenancy.updateBroker(p.ns, p.broker, r.body as z.infer<typeof s.brokerPatch>) } },
  { method: 'DELETE', url: BROKER, operationId: 'deleteBroker', summary: 'Delete a broker', params: s.brokerParams, result: null,
    handle: async (r, d) => { const p = params(r); await d.tenancy.deleteBroker(p.ns, p.broker); return null } },
  credentialsRoute('POST', 'issueCredentials', 'Issue signed client tokens (at most 100 per call): { "<clientId>": "<token>" }'),
  credentialsRoute('GET', 'issueCredentialsGet', 'As POST .../credentials; Cloudflare\'s API and its curl example use GET'),
  { method: 'GET', url: `${BROKER}/revocations`, operationId: 'listRevocations', summary: 'List revoked token ids', params: s.brokerParams, result: s.revocation.array(),
    handle: async (r, d) => await d.tokens.listRevocations(await brokerOf(r, d)) },
  { method: 'POST', url: `${BROKER}/revocations`, operationId: 'revokeTokens', summary: 'Revoke tokens by jti (?jti=a&jti=b or { "jti": [...] }); live sessions are disconnected', params: s.brokerParams, querystring: s.revocationQuery, body: s.revocationBody.partial().nullable(), result: s.revocation.pick({ jti: true }).array(),
    handle: async (r, d) => { const jtis = jtisOf(r); await d.tokens.revoke(await brokerOf(r, d), jtis); return jtis.map((jti) => ({ jti })) } },
  { method: 'DELETE', url: `${BROKER}/revocations`, operationId: 'unrevokeTokens', summary: 'Lift revocations by jti', params: s.brokerParams, querystring: s.revocationQuery, body: s.revocationBody.partial().nullable(), result: s.revocation.pick({ jti: true }).array(),
    handle: async (r, d) => { const jtis = jtisOf(r); await d.tokens.unrevoke(await brokerOf(r, d), jtis); return jtis.map((jti) => ({ jti })) } },
  { method: 'GET', url: `${BROKER}/publickeys`, operationId: 'getPublicKeys', summary: 'The broker\'s public keys as a JWKS', params: s.brokerParams, result: s.jwks,
    handle: async (r, d) => await d.tokens.publicKeys(await brokerOf(r, d)) },
  { method: 'POST', url: `${BROKER}/keys`, operationId: 'rotateKey', summary: 'Add a signing key; new tokens use it, older keys keep verifying', params: s.brokerParams, result: s.keyRotated,
    handle: async (r, d) => ({ kid: await d.tokens.rotateKey(await brokerOf(r, d)) }) },
  { method: 'DELETE', url: `${BROKER}/keys/:kid`, operationId: 'retireKey', summary: 'Retire a signing key: its tokens stop verifying', params: s.keyParams, result: null,
    handle: async (r, d) => { await d.tokens.retireKey(await brokerOf(r, d), params(r).kid); return null } },
  { method: 'POST', url: `${BROKER}/devices`, operationId: 'createDevice', summary: 'Register a device for auth over MQTT; its key is in this answer only', params: s.brokerParams, body: s.deviceCreate, result: s.deviceCreated,
    handle: async (r, d) => {
      const broker = await brokerOf(r, d)
      const created = await devicesOf(d).create(broker, r.body as z.infer<typeof s.deviceCreate>)
      await d.events?.publish(TRIGGER_TOPICS.deviceCreated, spaceOfBroker(broker), { device: created.name })
      return created
    } },
  { method: 'GET', url: `${BROKER}/devices`, operationId: 'listDevices', summary: 'List the devices of auth over MQTT (never their keys)', params: s.brokerParams, result: s.device.array(),
    handle: async (r, d) => await devicesOf(d).list(await brokerOf(r, d)) },
  { method: 'DELETE', url: `${BROKER}/devices/:device`, operationId: 'deleteDevice', summary: 'Delete a device: its key stops working (tokens it fetched stay valid until revoked or expired)', params: s.deviceParams, result: null,
    handle: async (r, d) => {
      const broker = await brokerOf(r, d)
      await devicesOf(d).delete(broker, params(r).device)
      await d.events?.publish(TRIGGER_TOPICS.deviceDeleted, spaceOfBroker(broker), { device: params(r).device })
      return null
    } },
  { method: 'GET', url: `${BROKER}/usage`, operationId: 'getUsage', summary: 'Connections now; messages and bytes in and out since a time', params: s.brokerParams, querystring: s.usageQuery, result: s.usage,
    handle: async (r, d) => { const since = (r.query as z.infer<typeof s.usageQuery>).since; return await d.usage.usage(await brokerOf(r, d), since === undefined ? undefined : new Date(since)) } }
]

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

/**
 * zod as fastify's validator: each route's schemas validate its request parts (the parsed value
 * replaces the raw one, defaults applied); the first problem becomes a 400 naming the field.
 */
function zodValidator ({ schema, httpPart }: { schema: unknown, httpPart?: string }) {
  const zodSchema = schema as z.ZodType
  const part = PART_NAMES[httpPart ?? ''] ?? httpPart ?? 'request'
  return (data: unknown): { value: unknown } | { error: Error } => {
    const result = zodSchema.safeParse(data ?? (part === 'body' ? {} : data))
    if (result.success) return { value: result.data }
    const issue = result.error.issues[0]
    const keys = issue?.code === 'unrecognized_keys' ? issue.keys : []
    const path = [...issue?.path ?? [], ...keys.slice(0, 1)].map(String)
    const field = part === 'path' ? (path.join('.') || part) : [part, ...path].join('.')
    return { error: new FieldError(field, issue?.code === 'unrecognized_keys' ? 'unknown field' : issue?.message ?? 'invalid') }
  }
}

/** Registers `/v1/...` behind the admin guard, with the stores when this pod has them. */
export async function registerManagementApi (app: FastifyInstance, options: { tokens: BearerTokens, deps: ManagementDeps | undefined, logger: Logger | undefined }): Promise<void> {
  await app.register(async (api) => {
    api.setValidatorCompiler(zodValidator)
    api.setErrorHandler(sendError(options.logger))
    api.setNotFoundHandler({ preHandler: adminGuard(options.tokens) }, async (request) => {
      throw new StarlingError('STARLING_ERR_API_NOT_FOUND', [request.method, request.url.split('?')[0]])
    })
    api.addHook('onRequest', adminGuard(options.tokens))
    const deps = options.deps
    if (deps === undefined) {
      // A pod without tenancy stores (not wired yet) answers every /v1 route the same clear way.
      api.all('/*', async () => { throw new StarlingError('STARLING_ERR_API_DISABLED', ['this pod has no tenancy store']) })
      return
    }
    for (const route of apiRoutes) {
      api.route({
        method: route.method,
        url: route.url.slice('/v1'.length),
        schema: {
          ...(route.params !== undefined ? { params: route.params } : {}),
          ...(route.querystring !== undefined ? { querystring: route.querystring } : {}),
          ...(route.body !== undefined ? { body: route.body } : {})
        },
        handler: async (request) => envelope(await route.handle(request, deps))
      })
    }
  }, { prefix: '/v1' })
}
