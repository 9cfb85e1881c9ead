import { EventEmitter } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { StarlingError } from '../errors.js'
import { ISSUED_KEPT_MAX, type IdentityBackend, type IdentityEvent, type PutResult, type RevocationEntry } from './backend.js'
import { ensureDataDir, writeFileAtomic } from './data-dir.js'

/**
 * The embedded mode's store: one JSON file, `dataDir/tenancy.json` (0600), rewritten atomically
 * after every change and read back at start, so a restart keeps namespaces, brokers, their
 * sealed keys and revocations. One process owns a data directory; notifications stay in it.
 */

export const TENANCY_FILE = 'tenancy.json'

interface FileState {
  version: 1
  namespaces: Record<string, string>
  brokers: Record<string, string>
  /** broker id → jti → [revoked on, expiry ms or null] */
  revocations: Record<string, Record<string, [string, number | null]>>
  /** broker id → jti → expiry ms */
  issued: Record<string, Record<string, number>>
  /** broker id → device name → device JSON (auth over MQTT) */
  devices: Record<string, Record<string, string>>
}

function emptyState (): FileState {
  return { version: 1, namespaces: {}, brokers: {}, revocations: {}, issued: {}, devices: {} }
}

function readState (file: string): FileState {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
    throw new StarlingError('STARLING_ERR_DATA_DIR', [file, (err as Error).message], { cause: err })
  }
  let parsed: Partial<FileState>
  try {
    parsed = JSON.parse(text) as Partial<FileState>
  } catch (err) {
    throw new StarlingError('STARLING_ERR_DATA_DIR', [file, `not a Starling tenancy file: ${(err as Error).message}`], { cause: err })
  }
  if (parsed.version !== 1) throw new StarlingError('STARLING_ERR_DATA_DIR', [file, `not a Starling tenancy file: unknown version ${String(parsed.version)}`])
  return { ...emptyState(), ...parsed } as FileState
}

function own<T> (record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined
}

export class FileBackend implements IdentityBackend {
  readonly kind = 'embedded' as const
  readonly file: string
  readonly #state: FileState
  readonly #events = new EventEmitter()

  constructor (dataDir: string) {
    this.file = join(ensureDataDir(dataDir), TENANCY_FILE)
    this.#state = readState(this.file)
  }

  #save (): void {
    writeFileAtomic(this.file, JSON.stringify(this.#state))
  }

  async loadNamespaces (): Promise<Map<string, string>> {
    return new Map(Object.entries(this.#state.namespaces))
  }

  async loadBrokers (): Promise<Map<string, string>> {
    return new Map(Object.entries(this.#state.brokers))
  }

  async readNamespace (name: string): Promise<string | undefined> {
    return own(this.#state.namespaces, name)
  }

  async readBroker (namespace: string, name: string): Promise<string | undefined> {
    return own(this.#state.brokers, `${namespace}/${name}`)
  }

  async putNamespace (name: string, expected: string | undefined, next: string | undefined): Promise<PutResult> {
    if (own(this.#state.namespaces, name) !== expected) return 'conflict'
    if (next === undefined) {
      if (Object.keys(this.#state.brokers).some((path) => path.startsWith(name + '/'))) return 'not-empty'
      delete this.#state.namespaces[name]
    } else {
      this.#state.namespaces[name] = next
    }
    this.#save()
    return 'ok'
  }

  async putBroker (namespace: string, name: string, expected: string | undefined, next: string | undefined): Promise<PutResult> {
    const path = `${namespace}/${name}`
    if (own(this.#state.brokers, path) !== expected) return 'conflict'
    if (next === undefined) {
      delete this.#state.brokers[path]
    } else {
      if (expected === undefined && own(this.#state.namespaces, namespace) === undefined) return 'missing-namespace'
      this.#state.brokers[path] = next
    }
    this.#save()
    return 'ok'
  }

  async recordIssued (brokerId: string, tokens: ReadonlyArray<{ jti: string, expiresAt: number }>): Promise<void> {
    if (tokens.length === 0) return
    const issued = this.#state.issued[brokerId] ??= {}
    const now = Date.now()
    for (const [jti, expiresAt] of Object.entries(issued)) if (expiresAt <= now) delete issued[jti]
    for (const token of tokens) issued[token.jti] = token.expiresAt
    const excess = Object.keys(issued).length - ISSUED_KEPT_MAX.embedded
    if (excess > 0) {
      for (const [jti] of Object.entries(issued).sort(([, x], [, y]) => x - y).slice(0, excess)) delete issued[jti]
    }
    this.#save()
  }

  #prune (brokerId: string, now: number): Record<string, [string, number | null]> {
    const revoked = this.#state.revocations[brokerId] ??= {}
    for (const [jti, [, expiresAt]] of Object.entries(revoked)) if (expiresAt !== null && expiresAt <= now) delete revoked[jti]
    return revoked
  }

  async revoke (brokerId: string, jtis: readonly string[], revokedOn: string, max: number, now: number): Promise<'full' | Array<{ jti: string, expiresAt: number | null }>> {
    const revoked = this.#prune(brokerId, now)
    const added = new Set(jtis.filter((jti) => own(revoked, jti) === undefined))
    if (Object.keys(revoked).length + added.size > max) return 'full'
    const issued = this.#state.issued[brokerId] ?? {}
    const out = jtis.map((jti) => {
      const expiresAt = own(issued, jti) ?? null
      revoked[jti] = [own(revoked, jti)?.[0] ?? revokedOn, expiresAt]
      return { jti, expiresAt }
    })
    this.#save()
    return out
  }

  async unrevoke (brokerId: string, jtis: readonly string[]): Promise<void> {
    const revoked = this.#state.revocations[brokerId]
    if (revoked === undefined) return
    for (const jti of jtis) delete revoked[jti]
    this.#save()
  }

  async revocations (brokerId: string, now: number): Promise<RevocationEntry[]> {
    const revoked = this.#state.revocations[brokerId] ?? {}
    return Object.entries(revoked)
      .filter(([, [, expiresAt]]) => expiresAt === null || expiresAt > now)
      .map(([jti, [revokedOn, expiresAt]]) => ({ jti, revokedOn, expiresAt }))
  }

  async dropBroker (brokerId: string): Promise<void> {
    delete this.#state.revocations[brokerId]
    delete this.#state.issued[brokerId]
    delete this.#state.devices[brokerId]
    this.#save()
  }

  async readDevice (brokerId: string, name: string): Promise<string | undefined> {
    const devices = own(this.#state.devices, brokerId)
    return devices === undefined ? undefined : own(devices, name)
  }

  async listDevices (brokerId: string): Promise<Map<string, string>> {
    return new Map(Object.entries(own(this.#state.devices, brokerId) ?? {}))
  }

  async createDevice (brokerId: string, name: string, json: string): Promise<boolean> {
    const devices = this.#state.devices[brokerId] ??= {}
    if (own(devices, name) !== undefined) return false
    devices[name] = json
    this.#save()
    return true
  }

  async deleteDevice (brokerId: string, name: string): Promise<boolean> {
    const devices = own(this.#state.devices, brokerId)
    if (devices === undefined || own(devices, name) === undefined) return false
    delete devices[name]
    this.#save()
    return true
  }

  async publish (event: IdentityEvent): Promise<void> {
    // Asynchronous, as a Redis notification is: listeners never run inside the writer's call.
    setImmediate(() => this.#events.emit('event', event))
  }

  onEvent (listener: (event: IdentityEvent) => void): void {
    this.#events.on('event', listener)
  }

  onResync (): void {
    // One process: nothing can be missed.
  }

  async close (): Promise<void> {
    this.#events.removeAllListeners()
  }
}
