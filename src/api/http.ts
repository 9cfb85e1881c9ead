import Fastify, { type FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { NodeState } from '../broker/connect-guard.js'
import { StarlingError } from '../errors.js'

export interface HttpServerOptions {
  readonly host: string
  readonly port: number
  readonly registry: Registry
  readonly state: NodeState
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
