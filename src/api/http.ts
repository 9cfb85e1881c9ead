import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { NodeState } from '../broker/connect-guard.js'
import type { MemberInfo } from '../cluster/members.js'
import { StarlingError } from '../errors.js'

export interface HttpServerOptions {
  readonly host: string
  readonly port: number
  readonly registry: Registry
  readonly state: NodeState
  /** Live pods of the cluster (just this one in embedded mode), for GET /cluster. */
  readonly members?: () => Promise<readonly MemberInfo[]>
}

export interface HttpServer {
  readonly app: FastifyInstance
  readonly address: { readonly host: string, readonly port: number }
  close (): Promise<void>
}

/** The pod's HTTP port: liveness, readiness and Prometheus metrics (the management API joins it later). */
export async function startHttpServer (options: HttpServerOptions): Promise<HttpServer> {
  const app = Fastify({ logger: false })

  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (_request, reply) => {
    const { ready, draining } = options.state
    if (ready && !draining) return { status: 'ready' }
    return reply.code(503).send({ status: draining ? 'draining' : 'not ready' })
  })

  app.get('/cluster', async (_request, reply) => {
    try {
      const pods = await options.members?.() ?? []
      return { pods: pods.map((pod) => ({ ...pod, startedAt: new Date(pod.startedAt).toISOString(), lastHeartbeatAt: new Date(pod.lastHeartbeatAt).toISOString() })) }
    } catch (err) {
      return reply.code(503).send({ error: 'cluster registry unavailable', detail: (err as Error).message })
    }
  })

  app.get('/metrics', async (_request, reply) => {
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
