import type { TestContext } from 'node:test'
import { startHttpServer, type HttpServer } from '../../src/api/http.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { LogCapture } from './node.js'
import { identityForTests } from './api-identity.js'

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef'

export interface TestApi {
  readonly server: HttpServer
  readonly url: string
  readonly logs: LogCapture
  /** fetch on the API with the admin token (unless `token` says otherwise), JSON in and out. */
  call (method: string, path: string, options?: { body?: unknown, token?: string | null }): Promise<{ status: number, headers: Headers, json: any }>
}

/** The pod's HTTP server on a loopback port 0 with the test identity stores behind `/v1`. */
export async function startTestApi (t: TestContext, options: { adminTokens?: readonly string[], metricsBearerToken?: string, management?: boolean } = {}): Promise<TestApi> {
  const identity = await identityForTests()
  const logs = new LogCapture()
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: createMetrics('api-test', false).registry,
    state: { ready: true, draining: false },
    adminTokens: options.adminTokens ?? [ADMIN_TOKEN],
    ...(options.metricsBearerToken !== undefined ? { metricsBearerToken: options.metricsBearerToken } : {}),
    ...(options.management === false ? {} : { management: identity }),
    logger: createLogger('info', 'api-test', logs)
  })
  t.after(async () => { await server.close(); await identity.close() })
  const url = `http://127.0.0.1:${server.address.port}`
  return {
    server,
    url,
    logs,
    async call (method, path, { body, token = ADMIN_TOKEN } = {}) {
      const headers: Record<string, string> = {}
      if (token !== null) headers.authorization = `Bearer ${token}`
      if (body !== undefined) headers['content-type'] = 'application/json'
      const res = await fetch(url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(5000) })
      const text = await res.text()
      return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) }
    }
  }
}
