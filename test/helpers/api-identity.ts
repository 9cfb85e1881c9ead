import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UsageSource } from '../../src/api/management.js'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createIdentity } from '../../src/tenancy/identity.js'
import type { TenancyStore, TokenAuthority } from '../../src/tenancy/types.js'

/** Fixed usage figures, so a test can see them pass through `GET .../usage`. */
export const fixedUsage: UsageSource = {
  usage: async (_broker, since) => ({ connections: 3, since: (since ?? new Date(0)).toISOString(), messagesIn: 10, messagesOut: 20, bytesIn: 100, bytesOut: 200 })
}

/**
 * The one place the API and CLI tests get their identity stores: the real ones in embedded mode
 * (a temporary data directory, removed on close).
 */
export async function identityForTests (): Promise<{ tenancy: TenancyStore, tokens: TokenAuthority, usage: UsageSource, close: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-api-'))
  const config = loadConfig({ overrides: { nodeId: 'api-test', dataDir, auth: { secretKey: 'api test secret key of at least thirty-two chars', defaultBrokerAuthType: 'TOKEN' } } })
  const identity = await createIdentity({ config, logger: createLogger('silent', config.nodeId) })
  return {
    tenancy: identity.tenancy,
    tokens: identity.tokens,
    usage: fixedUsage,
    close: async () => { await identity.close(); rmSync(dataDir, { recursive: true, force: true }) }
  }
}
