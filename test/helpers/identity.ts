import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import type { StarlingConfig } from '../../src/config/schema.js'
import { redisSettings } from '../../src/cluster/redis.js'
import { createLogger } from '../../src/logger.js'
import { createIdentity, type Identity } from '../../src/tenancy/identity.js'

export const TEST_SECRET = 'test secret key of at least thirty-two characters'

/** A data directory removed after the test. */
export function tempDataDir (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-identity-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function identityConfig (overrides: Record<string, unknown>): StarlingConfig {
  return loadConfig({ overrides: { nodeId: 'test', log: { level: 'silent' }, ...overrides } })
}

/** A movable clock for expiry tests: `clock.now` in ms. */
export interface TestClock { now: number, readonly read: () => number }

export function testClock (): TestClock {
  const clock = { now: Date.now(), read: () => clock.now }
  return clock
}

/** createIdentity for a config, closed after the test; cluster mode when the config has a Redis. */
export async function openIdentity (t: TestContext, config: StarlingConfig, clock?: TestClock): Promise<Identity> {
  const identity = await createIdentity({
    config,
    logger: createLogger('silent', config.nodeId),
    redis: redisSettings(config.redis),
    ...(clock !== undefined ? { clock: clock.read } : {})
  })
  t.after(() => identity.close())
  return identity
}

/** Polls `check` every 10 ms until it is true or `ms` pass; returns how long it took, or throws. */
export async function within (ms: number, what: string, check: () => boolean | Promise<boolean>): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`${what}: not within ${ms} ms`)
}
