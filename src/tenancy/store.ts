import type { SigningKeyFactory } from '../auth/signing-keys.js'
import { StarlingError } from '../errors.js'
import type { IdentityBackend, IdentityEvent, PutResult } from './backend.js'
import { brokerPath, toBrokerRecord, type EndpointSettings, type StoredBroker, type StoredNamespace } from './stored.js'
import type { BrokerInput, BrokerPatch, BrokerRecord, NamespaceInput, NamespacePatch, NamespaceRecord, TenancyChange, TenancyStore } from './types.js'
import { ulid } from './ulid.js'
import { checkAuthType, checkDescription, checkExpiryAction, checkJwks, checkName, checkOnPublish, checkQuotas, DEFAULT_QUOTAS } from './validate.js'

/**
 * The TenancyStore over either backend. Reads for the API go to storage (so a change made on
 * another pod a moment ago is seen); `findBroker`, on the CONNECT path, reads this pod's cache,
 * which every change notification (and a reload after a missed one) keeps current. Writes are
 * compare-and-set, retried on a concurrent change.
 */

const ATTEMPTS = 10

interface CachedBroker { readonly json: string, readonly stored: StoredBroker, readonly record: BrokerRecord }

/** Where an entry of the cache came from: a full reload's snapshot, or a single read or write since. */
type Source = 'snapshot' | 'single'

export interface StoreOptions {
  readonly endpoint: EndpointSettings
  readonly keys: SigningKeyFactory
  /** Names this instance in notifications, so it does not re-apply its own. */
  readonly origin: string
  readonly clock?: () => number
}

function notFound (what: string): StarlingError {
  return new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [what])
}

function describeBroker (namespace: string, name: string): string {
  return `broker "${name}" in namespace "${namespace}"`
}

export class CachedTenancyStore implements TenancyStore {
  readonly #backend: IdentityBackend
  readonly #options: StoreOptions
  readonly #clock: () => number
  readonly #brokers = new Map<string, CachedBroker>()
  readonly #brokerPathsById = new Map<string, string>()
  /** Cached brokers with an on-publish hook: none (the usual case) lets every PUBLISH skip the lookup. */
  #withOnPublish = 0
  /** Sequence number of the latest single read or write of each path (also of deletions). */
  readonly #touched = new Map<string, number>()
  #sequence = 0
  readonly #listeners = new Set<(change: TenancyChange) => void>()
  readonly #resyncListeners = new Set<() => void>()
  #resyncTimer: NodeJS.Timeout | undefined
  #closed = false

  private constructor (backend: IdentityBackend, options: StoreOptions) {
    this.#backend = backend
    this.#options = options
    this.#clock = options.clock ?? Date.now
  }

  static async open (backend: IdentityBackend, options: StoreOptions): Promise<CachedTenancyStore> {
    const store = new CachedTenancyStore(backend, options)
    backend.onEvent((event) => { store.#onEvent(event) })
    // A reload that fails (Redis gone again, or the store closing) must not reject unhandled, which
    // ends the process: the next resync or the periodic reload catches up.
    backend.onResync(() => { store.#reload().catch(() => {}) })
    await store.#reload()
    // A notification lost without a reconnect (rare) is healed by a periodic reload.
    if (backend.kind === 'cluster') {
      store.#resyncTimer = setInterval(() => { store.#reload().catch(() => {}) }, 30000)
      store.#resyncTimer.unref()
    }
    return store
  }

  async #reload (): Promise<void> {
    if (this.#closed) return
    const started = this.#sequence
    const brokers = await this.#backend.loadBrokers()
    // A path read or written singly since the snapshot was asked for is at least as new as it
    // (and any later change brings its own notification): the snapshot must not undo it.
    const newer = (path: string): boolean => (this.#touched.get(path) ?? 0) > started
    for (const path of [...this.#brokers.keys()]) if (!brokers.has(path) && !newer(path)) this.#forget(path)
    for (const [path, json] of brokers) if (!newer(path)) this.#remember(json, path, 'snapshot')
    for (const listener of this.#resyncListeners) listener()
  }

  #remember (json: string | undefined, path: string, source: Source = 'single'): CachedBroker | undefined {
    if (source === 'single') this.#touched.set(path, ++this.#sequence)
    if (json === undefined) { this.#forget(path); return undefined }
    const cached = this.#brokers.get(path)
    if (cached?.json === json) return cached
    const stored = JSON.parse(json) as StoredBroker
    const entry = { json, stored, record: toBrokerRecord(stored, this.#options.endpoint) }
    if (cached !== undefined && cached.stored.id !== stored.id) this.#brokerPathsById.delete(cached.stored.id)
    if (cached?.record.onPublish !== undefined) this.#withOnPublish--
    if (entry.record.onPublish !== undefined) this.#withOnPublish++
    this.#brokers.set(path, entry)
    this.#brokerPathsById.set(stored.id, path)
    return entry
  }

  #forget (path: string): void {
    const cached = this.#brokers.get(path)
    if (cached === undefined) return
    if (cached.record.onPublish !== undefined) this.#withOnPublish--
    this.#brokers.delete(path)
    this.#brokerPathsById.delete(cached.stored.id)
  }

  #onEvent (event: IdentityEvent): void {
    if (event.origin === this.#options.origin || this.#closed) return
    if (event.type === 'namespace') {
      this.#emit({ kind: 'namespace', name: event.name })
    } else if (event.type === 'broker') {
      void this.#backend.readBroker(event.namespace, event.name).then((json) => {
        this.#remember(json, brokerPath(event.namespace, event.name))
        this.#emit({ kind: 'broker', namespace: event.namespace, name: event.name })
      }, () => { /* the periodic reload catches up */ })
    }
  }

  #emit (change: TenancyChange): void {
    for (const listener of this.#listeners) listener(change)
  }

  async #announce (change: TenancyChange): Promise<void> {
    this.#emit(change)
    const event: IdentityEvent = change.kind === 'namespace'
      ? { type: 'namespace', origin: this.#options.origin, name: change.name }
      : { type: 'broker', origin: this.#options.origin, namespace: change.namespace, name: change.name }
    await this.#backend.publish(event)
  }

  #now (): string {
    return new Date(this.#clock()).toISOString()
  }

  // ---- namespaces

  async createNamespace (input: NamespaceInput): Promise<NamespaceRecord> {
    const name = checkName('name', input?.name)
    const now = this.#now()
    const record: StoredNamespace = { id: ulid(this.#clock()), name, description: checkDescription('description', input.description), created_on: now, modified_on: now }
    const result = await this.#backend.putNamespace(name, undefined, JSON.stringify(record))
    if (result !== 'ok') throw new StarlingError('STARLING_ERR_TENANCY_EXISTS', [`namespace "${name}"`])
    await this.#announce({ kind: 'namespace', name })
    return record
  }

  async listNamespaces (): Promise<readonly NamespaceRecord[]> {
    const all = await this.#backend.loadNamespaces()
    return [...all.values()].map((json) => JSON.parse(json) as NamespaceRecord).sort((a, b) => a.name.localeCompare(b.name))
  }

  async getNamespace (name: string): Promise<NamespaceRecord> {
    const json = await this.#backend.readNamespace(name)
    if (json === undefined) throw notFound(`namespace "${name}"`)
    return JSON.parse(json) as NamespaceRecord
  }

  async updateNamespace (name: string, patch: NamespacePatch): Promise<NamespaceRecord> {
    const description = patch?.description === undefined ? undefined : checkDescription('description', patch.description)
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const json = await this.#backend.readNamespace(name)
      if (json === undefined) throw notFound(`namespace "${name}"`)
      const current = JSON.parse(json) as StoredNamespace
      const next: StoredNamespace = { ...current, ...(description !== undefined ? { description } : {}), modified_on: this.#now() }
      const result = await this.#backend.putNamespace(name, json, JSON.stringify(next))
      if (result === 'ok') {
        await this.#announce({ kind: 'namespace', name })
        return next
      }
    }
    throw new StarlingError('STARLING_ERR_TENANCY_CONFLICT', [`namespace "${name}"`])
  }

  async deleteNamespace (name: string): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const json = await this.#backend.readNamespace(name)
      if (json === undefined) throw notFound(`namespace "${name}"`)
      const result = await this.#backend.putNamespace(name, json, undefined)
      if (result === 'not-empty') throw new StarlingError('STARLING_ERR_TENANCY_NOT_EMPTY', [`namespace "${name}" still has brokers; delete them first`])
      if (result === 'ok') {
        await this.#announce({ kind: 'namespace', name })
        return
      }
    }
    throw new StarlingError('STARLING_ERR_TENANCY_CONFLICT', [`namespace "${name}"`])
  }

  // ---- brokers

  async createBroker (namespace: string, input: BrokerInput): Promise<BrokerRecord> {
    const name = checkName('name', input?.name)
    const authType = input.authType === undefined ? 'TOKEN' : checkAuthType(input.authType)
    const jwks = input.jwks === undefined ? undefined : checkJwks(input.jwks)
    if (authType === 'JWKS' && jwks === undefined) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['jwks', 'required with authType JWKS (url, issuer, audience)'])
    const onPublish = input.onPublish === undefined ? undefined : checkOnPublish(input.onPublish)
    const now = this.#now()
    const id = ulid(this.#clock())
    const stored: StoredBroker = {
      id,
      name,
      namespace,
      description: checkDescription('description', input.description),
      created_on: now,
      modified_on: now,
      authType,
      ...(jwks !== undefined ? { jwks } : {}),
      quotas: checkQuotas(input.quotas, DEFAULT_QUOTAS),
      tokenExpiryAction: input.tokenExpiryAction === undefined ? 'disconnect' : checkExpiryAction(input.tokenExpiryAction),
      ...(onPublish !== undefined ? { onPublish } : {}),
      // Every broker has a key: TOKEN brokers sign tokens with it, all sign on-publish hooks.
      keys: [this.#options.keys.create(id, new Date(this.#clock()))]
    }
    const json = JSON.stringify(stored)
    const result: PutResult = await this.#backend.putBroker(namespace, name, undefined, json)
    if (result === 'missing-namespace') throw notFound(`namespace "${namespace}"`)
    if (result !== 'ok') throw new StarlingError('STARLING_ERR_TENANCY_EXISTS', [describeBroker(namespace, name)])
    const cached = this.#remember(json, brokerPath(namespace, name)) as CachedBroker
    await this.#announce({ kind: 'broker', namespace, name })
    return cached.record
  }

  async listBrokers (namespace: string): Promise<readonly BrokerRecord[]> {
    if (await this.#backend.readNamespace(namespace) === undefined) throw notFound(`namespace "${namespace}"`)
    const all = await this.#backend.loadBrokers()
    const out: BrokerRecord[] = []
    for (const [path, json] of all) {
      if (path.startsWith(namespace + '/')) out.push((this.#remember(json, path) as CachedBroker).record)
    }
    return out.sort((a, b) => a.name.localeCompare(b.name))
  }

  async getBroker (namespace: string, name: string): Promise<BrokerRecord> {
    return (await this.readStoredBroker(namespace, name)).record
  }

  findBroker (namespace: string, name: string): BrokerRecord | undefined {
    return this.#brokers.get(brokerPath(namespace, name))?.record
  }

  hasOnPublishHooks (): boolean {
    return this.#withOnPublish > 0
  }

  findBrokerById (id: string): BrokerRecord | undefined {
    const path = this.#brokerPathsById.get(id)
    return path === undefined ? undefined : this.#brokers.get(path)?.record
  }

  /** The cached broker with this id (its signing keys included), for the token authority. */
  cachedBrokerById (id: string): StoredBroker | undefined {
    const path = this.#brokerPathsById.get(id)
    return path === undefined ? undefined : this.#brokers.get(path)?.stored
  }

  /** Every cached broker (the token authority loads their revocations). */
  cachedBrokers (): StoredBroker[] {
    return [...this.#brokers.values()].map((entry) => entry.stored)
  }

  /** The broker as stored now (refreshing the cache), or STARLING_ERR_TENANCY_NOT_FOUND. */
  async readStoredBroker (namespace: string, name: string): Promise<CachedBroker> {
    const json = await this.#backend.readBroker(namespace, name)
    const cached = this.#remember(json, brokerPath(namespace, name))
    if (cached === undefined) throw notFound(describeBroker(namespace, name))
    return cached
  }

  /**
   * Read-modify-write of one broker, retried on concurrent changes; `change` sees the stored
   * broker and returns the next one. Refused with NOT_FOUND when it is gone or was replaced by a
   * broker of the same name (another id) meanwhile.
   */
  async mutateBroker (namespace: string, name: string, change: (current: StoredBroker) => StoredBroker, expectedId?: string): Promise<BrokerRecord> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = await this.readStoredBroker(namespace, name)
      if (expectedId !== undefined && current.stored.id !== expectedId) throw notFound(describeBroker(namespace, name))
      const next: StoredBroker = { ...change(current.stored), modified_on: this.#now() }
      const json = JSON.stringify(next)
      const result = await this.#backend.putBroker(namespace, name, current.json, json)
      if (result === 'ok') {
        const cached = this.#remember(json, brokerPath(namespace, name)) as CachedBroker
        await this.#announce({ kind: 'broker', namespace, name })
        return cached.record
      }
    }
    throw new StarlingError('STARLING_ERR_TENANCY_CONFLICT', [describeBroker(namespace, name)])
  }

  async updateBroker (namespace: string, name: string, patch: BrokerPatch): Promise<BrokerRecord> {
    const p = patch ?? {}
    const authType = p.authType === undefined ? undefined : checkAuthType(p.authType)
    const jwks = p.jwks === undefined ? undefined : checkJwks(p.jwks)
    const description = p.description === undefined ? undefined : checkDescription('description', p.description)
    const expiry = p.tokenExpiryAction === undefined ? undefined : checkExpiryAction(p.tokenExpiryAction)
    if (p.quotas !== undefined) checkQuotas(p.quotas)
    const onPublish = p.onPublish === undefined || p.onPublish === null ? p.onPublish : checkOnPublish(p.onPublish)
    return await this.mutateBroker(namespace, name, (current) => {
      const { onPublish: currentHook, ...rest } = current
      const hook = onPublish === undefined ? currentHook : onPublish ?? undefined
      const next: StoredBroker = {
        ...rest,
        ...(hook !== undefined ? { onPublish: hook } : {}),
        ...(authType !== undefined ? { authType } : {}),
        ...(jwks !== undefined ? { jwks } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(expiry !== undefined ? { tokenExpiryAction: expiry } : {}),
        quotas: checkQuotas(p.quotas, current.quotas)
      }
      if (next.authType === 'JWKS' && next.jwks === undefined) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['jwks', 'required with authType JWKS (url, issuer, audience)'])
      return next
    })
  }

  async deleteBroker (namespace: string, name: string): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = await this.readStoredBroker(namespace, name)
      const result = await this.#backend.putBroker(namespace, name, current.json, undefined)
      if (result === 'ok') {
        this.#remember(undefined, brokerPath(namespace, name))
        await this.#backend.dropBroker(current.stored.id)
        await this.#announce({ kind: 'broker', namespace, name })
        return
      }
    }
    throw new StarlingError('STARLING_ERR_TENANCY_CONFLICT', [describeBroker(namespace, name)])
  }

  onChange (listener: (change: TenancyChange) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Called after every full reload (start, reconnect, periodic): the token authority reloads revocations. */
  onReload (listener: () => void): void {
    this.#resyncListeners.add(listener)
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#resyncTimer)
    this.#listeners.clear()
    this.#resyncListeners.clear()
  }
}
