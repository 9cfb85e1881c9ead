import type { TestContext } from 'node:test'
import { startTestNode, type TestNode } from './node.js'
import { startRedis, type TestRedis } from './redis.js'

/**
 * A real redis-server and in-process cluster-mode nodes on it, torn down in reverse order
 * (nodes, then Redis): `t.after` hooks run in registration order, and nodes closing after
 * their Redis is gone wait out its timeouts.
 */
export async function redisAndNodes (t: TestContext, ids: readonly string[], overrides: Record<string, unknown> = {}): Promise<{ redis: TestRedis, nodes: TestNode[] }> {
  const cleanups: Array<() => unknown> = []
  const scope = { after: (fn: () => unknown) => { cleanups.unshift(fn) } } as unknown as TestContext
  t.after(async () => {
    for (const cleanup of cleanups) await cleanup()
  })
  const redis = await startRedis(scope)
  const nodes: TestNode[] = []
  for (const nodeId of ids) nodes.push(await startTestNode(scope, { 'redis.url': redis.url, 'log.level': 'info', nodeId, ...overrides }))
  return { redis, nodes }
}
