import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto'
import type { UsageSource } from '../../src/api/management.js'
import { StarlingError } from '../../src/errors.js'
import type {
  BrokerInput, BrokerPatch, BrokerRecord, IssueOptions, NamespaceInput, NamespacePatch, NamespaceRecord,
  RevocationRecord, TenancyChange, TenancyStore, TokenAuthority, VerifiedToken
} from '../../src/tenancy/types.js'

/**
 * TEST HELPER ONLY: the smallest in-memory TenancyStore + TokenAuthority that lets the HTTP layer
 * (src/api/) and the CLI be tested before the real stores (src/tenancy/, src/auth/) are merged.
 * Tests get it from `identityForTests()` alone, so switching them to the real stores is one edit.
 * It checks no signatures and keeps nothing: never use it outside tests.
 */

const now = (): string => new Date().toISOString()
const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

interface Key { readonly kid: string, readonly privateKey: KeyObject, readonly x: string }

function newKey (): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { kid: randomUUID(), privateKey, x: String(publicKey.export({ format: 'jwk' }).x) }
}

export class MemoryIdentity implements TenancyStore, TokenAuthority {
  readonly #namespaces = new Map<string, NamespaceRecord>()
  readonly #brokers = new Map<string, BrokerRecord>()
  readonly #keys = new Map<string, Key[]>()
  readonly #revoked = new Map<string, RevocationRecord[]>()
  /** What `issue` was asked, for assertions on the API's translation of query parameters. */
  readonly issued: IssueOptions[] = []

  #broker (namespace: string, name: string): BrokerRecord {
    const broker = this.#brokers.get(`${namespace}/${name}`)
    if (broker === undefined) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`broker "${name}" in namespace "${namespace}"`])
    return broker
  }

  async createNamespace (input: NamespaceInput): Promise<NamespaceRecord> {
    if (this.#namespaces.has(input.name)) throw new StarlingError('STARLING_ERR_TENANCY_EXISTS', [`namespace "${input.name}"`])
    const record = { id: randomUUID(), name: input.name, description: input.description ?? '', created_on: now(), modified_on: now() }
    this.#namespaces.set(input.name, record)
    return record
  }

  async listNamespaces (): Promise<readonly NamespaceRecord[]> { return [...this.#namespaces.values()] }

  async getNamespace (name: string): Promise<NamespaceRecord> {
    const record = this.#namespaces.get(name)
    if (record === undefined) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`namespace "${name}"`])
    return record
  }

  async updateNamespace (name: string, patch: NamespacePatch): Promise<NamespaceRecord> {
    const record = { ...await this.getNamespace(name), ...patch, modified_on: now() }
    this.#namespaces.set(name, record)
    return record
  }

  async deleteNamespace (name: string): Promise<void> {
    await this.getNamespace(name)
    if ((await this.listBrokers(name)).length > 0) throw new StarlingError('STARLING_ERR_TENANCY_NOT_EMPTY', [`namespace "${name}" still has brokers`])
    this.#namespaces.delete(name)
  }

  async createBroker (namespace: string, input: BrokerInput): Promise<BrokerRecord> {
    await this.getNamespace(namespace)
    if (this.#brokers.has(`${namespace}/${input.name}`)) throw new StarlingError('STARLING_ERR_TENANCY_EXISTS', [`broker "${input.name}" in namespace "${namespace}"`])
    const key = newKey()
    const record: BrokerRecord = {
      id: randomUUID(), name: input.name, namespace, description: input.description ?? '', created_on: now(), modified_on: now(),
      authType: input.authType ?? 'TOKEN', ...(input.jwks !== undefined ? { jwks: input.jwks } : {}),
      quotas: { maxConnections: 0, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 0, ...input.quotas },
      tokenExpiryAction: input.tokenExpiryAction ?? 'disconnect',
      endpoint: `mqtts://${input.name}.${namespace}.test.invalid:8883`, publicKey: Buffer.from(key.x, 'base64url').toString('hex')
    }
    this.#brokers.set(`${namespace}/${input.name}`, record)
    this.#keys.set(record.id, [key])
    return record
  }

  async listBrokers (namespace: string): Promise<readonly BrokerRecord[]> {
    await this.getNamespace(namespace)
    return [...this.#brokers.values()].filter((b) => b.namespace === namespace)
  }

  async getBroker (namespace: string, name: string): Promise<BrokerRecord> { return this.#broker(namespace, name) }
  findBroker (namespace: string, name: string): BrokerRecord | undefined { return this.#brokers.get(`${namespace}/${name}`) }

  async updateBroker (namespace: string, name: string, patch: BrokerPatch): Promise<BrokerRecord> {
    const current = this.#broker(namespace, name)
    const record = { ...current, ...patch, quotas: { ...current.quotas, ...patch.quotas }, modified_on: now() }
    this.#brokers.set(`${namespace}/${name}`, record)
    return record
  }

  async deleteBroker (namespace: string, name: string): Promise<void> {
    this.#broker(namespace, name)
    this.#brokers.delete(`${namespace}/${name}`)
  }

  onChange (_listener: (change: TenancyChange) => void): () => void { return () => {} }

  async issue (broker: BrokerRecord, options: IssueOptions): Promise<Record<string, string>> {
    this.issued.push(options)
    const key = (this.#keys.get(broker.id) ?? []).at(-1) as Key
    const out: Record<string, string> = {}
    for (let i = 0; i < options.number; i++) {
      const sub = options.clientId ?? randomBytes(13).toString('hex').toUpperCase()
      const iat = Math.floor(Date.now() / 1000)
      const payload = { sub, aud: `${broker.namespace}/${broker.name}`, jti: randomUUID(), iat, ...(options.expiresInSeconds !== undefined ? { exp: iat + options.expiresInSeconds } : {}), ...(options.topicAcl !== undefined ? { acl: options.topicAcl } : {}) }
      const signingInput = `${b64url({ alg: 'EdDSA', kid: key.kid })}.${b64url(payload)}`
      out[sub] = `${signingInput}.${sign(null, Buffer.from(signingInput), key.privateKey).toString('base64url')}`
    }
    return out
  }

  async verify (_broker: BrokerRecord, _token: string): Promise<VerifiedToken> {
    throw new StarlingError('STARLING_ERR_API_INTERNAL', ['the test identity does not verify tokens'])
  }

  async publicKeys (broker: BrokerRecord): Promise<{ keys: Array<Record<string, string>> }> {
    return { keys: (this.#keys.get(broker.id) ?? []).map((k) => ({ kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.kid, alg: 'EdDSA', use: 'sig' })) }
  }

  async rotateKey (broker: BrokerRecord): Promise<string> {
    const key = newKey()
    this.#keys.get(broker.id)?.push(key)
    return key.kid
  }

  async retireKey (broker: BrokerRecord, kid: string): Promise<void> {
    const keys = this.#keys.get(broker.id) ?? []
    if (!keys.some((k) => k.kid === kid)) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`key "${kid}"`])
    if (keys.length === 1) throw new StarlingError('STARLING_ERR_TENANCY_NOT_EMPTY', ['the last active key cannot be retired'])
    this.#keys.set(broker.id, keys.filter((k) => k.kid !== kid))
  }

  async sign (broker: BrokerRecord, data: Uint8Array): Promise<Uint8Array> {
    return sign(null, data, ((this.#keys.get(broker.id) ?? []).at(-1) as Key).privateKey)
  }

  async revoke (broker: BrokerRecord, jtis: readonly string[]): Promise<void> {
    const list = this.#revoked.get(broker.id) ?? []
    // `expires_on` (unknown here) is spread in, so this compiles whether RevocationRecord has the field yet or not.
    for (const jti of jtis) if (!list.some((r) => r.jti === jti)) list.push({ jti, revoked_on: now(), ...{ expires_on: null } })
    this.#revoked.set(broker.id, list)
  }

  async unrevoke (broker: BrokerRecord, jtis: readonly string[]): Promise<void> {
    this.#revoked.set(broker.id, (this.#revoked.get(broker.id) ?? []).filter((r) => !jtis.includes(r.jti)))
  }

  async listRevocations (broker: BrokerRecord): Promise<readonly RevocationRecord[]> { return this.#revoked.get(broker.id) ?? [] }
  isRevoked (brokerId: string, jti: string): boolean { return (this.#revoked.get(brokerId) ?? []).some((r) => r.jti === jti) }
  onRevoke (_listener: (brokerId: string, jtis: readonly string[]) => void): () => void { return () => {} }
  async close (): Promise<void> {}
}

/** Fixed usage figures, so a test can see them pass through `GET .../usage`. */
export const fixedUsage: UsageSource = {
  usage: async (_broker, since) => ({ connections: 3, since: (since ?? new Date(0)).toISOString(), messagesIn: 10, messagesOut: 20, bytesIn: 100, bytesOut: 200 })
}

/**
 * THE one place the API and CLI tests get their identity stores. After merging, return the real
 * TenancyStore and TokenAuthority here (embedded mode, a temporary dataDir) and every test follows.
 */
export async function identityForTests (): Promise<{ tenancy: TenancyStore, tokens: TokenAuthority, usage: UsageSource, close: () => Promise<void> }> {
  const identity = new MemoryIdentity()
  return { tenancy: identity, tokens: identity, usage: fixedUsage, close: async () => await identity.close() }
}
