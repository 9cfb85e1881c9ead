import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { NodeState } from '../broker/connect-guard.js'
import { starlingVersion, type MemberInfo } from '../cluster/members.js'
import { StarlingError } from '../errors.js'
import type { Logger } from '../logger.js'
import { adminGuard } from './admin-guard.js'
import { BearerTokens, bearerOf } from './bearer.js'
import { sendError } from './errors.js'
import { registerManagementApi, type ManagementDeps } from './management.js'
import { openApiDocument } from './openapi.js'

export interface HttpServerOptions {
  readonly host: string
  readonly port: number
  readonly registry: Registry
  readonly state: NodeState
  /** Live pods of the cluster (just this one in embedded mode), for GET /cluster. */
  readonly members?: () => Promise<readonly MemberInfo[]>
  /** Bearer tokens of the management API and `/cluster`; none: both refuse every request (never open). */
  readonly adminTokens?: readonly string[]
  /** When set, `/metrics` needs this bearer token. */
  readonly metricsBearerToken?: string
  /** The stores behind `/v1/...`; absent: `/v1` answers that this pod has none. */
  readonly management?: ManagementDeps
  readonly logger?: Logger
}

export interface HttpServer {
  readonly app: FastifyInstance
  readonly address: { readonly host: string, readonly port: number }
  close (): Promise<void>
}

/**
 * The pod's HTTP port: liveness and readiness (open), Prometheus metrics (open, or behind
 * metrics.bearerToken), and behind the admin token `/cluster` and the management API (`/v1`,
 * described by `/openapi.json`).
 */
export async function startHttpServer (options: HttpServerOptions): Promise<HttpServer> {
  const app = Fastify({ logger: false })
  const adminTokens = new BearerTokens(options.adminTokens ?? [])
  if (adminTokens.size === 0) options.logger?.warn('management API and /cluster disabled: no admin token configured (set STARLING_ADMIN_TOKEN, api.adminTokens or api.adminTokenFile)')
  const metricsToken = options.metricsBearerToken !== undefined && options.metricsBearerToken !== '' ? new BearerTokens([options.metricsBearerToken]) : undefined

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const { ready, draining } = options.state
    if (ready && !draining) return { status: 'ready' }
    return reply.code(503).send({ status: draining ? 'draining' : 'not ready' })
  })

  await app.register(async (admin) => {
    admin.setErrorHandler(sendError(options.logger))
    admin.addHook('onRequest', adminGuard(adminTokens))
    admin.get('/cluster', async (_request, reply) => {
      try {
        const pods = await options.members?.() ?? []
        return { pods: pods.map((pod) => ({ ...pod, startedAt: new Date(pod.startedAt).toISOString(), lastHeartbeatAt: new Date(pod.lastHeartbeatAt).toISOString() })) }
      } catch (err) {
        return reply.code(503).send({ error: 'cluster registry unavailable', detail: (err as Error).message })
      }
    })
  })

  await registerManagementApi(app, { tokens: adminTokens, deps: options.management, logger: options.logger })
  const openApi = openApiDocument(starlingVersion())
  app.get('/openapi.json', async () => openApi)

  app.get('/metrics', async (request, reply) => {
    if (metricsToken !== undefined) {
      const presented = bearerOf(request.headers.authorization)
      if (presented === undefined) return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send('bearer token required\n')
      if (!metricsToken.matches(presented)) return reply.code(403).send('wrong bearer token\n')
    }
    const body = await options.registry.metrics()
    return reply.header('content-type', options.registry.contentType).send(body)
  })

  try {
    await app.listen({ host: options.host, port: options.port })
  } catch (err) {
    throw new StarlingError('STARLING_ERR_LISTEN', [`http ${options.host}:${options.port}`, (err as Error).message], { cause: err })
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return { app, address: { host: options.host, port }, close: () => app.close() }
}
