import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { StarlingError } from '../errors.js'
import type { IdentityBackend } from '../tenancy/backend.js'
import type { BrokerRecord } from '../tenancy/types.js'

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number, options: { N: number, r: number, p: number, maxmem: number }) => Promise<Buffer>

/**
 * Devices of auth over MQTT: a name and a key per broker. The key is shown once, when the device
 * is registered; only its scrypt hash is stored (N = 2^14, r = 8, p = 1, 16-byte salt, 32-byte
 * hash: about 16 MiB and tens of milliseconds per check, on libuv's pool).
 */

const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const
const HASH_BYTES = 32
/** Device names: letters, digits, `-`, `_`, `.`, at most 64 (no `:`, which separates name and key in the client id). */
export const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** A chosen key: at least 16 printable characters without `:` or spaces, at most 256. */
export const DEVICE_KEY = /^[\x21-\x39\x3b-\x7e]{16,256}$/
/** Devices one broker may have. */
export const MAX_DEVICES_PER_BROKER = 100_000

export interface DeviceRecord {
  readonly name: string
  readonly description: string
  readonly created_on: string
}

interface StoredDevice extends DeviceRecord {
  /** `scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>` */
  readonly keyHash: string
}

async function hashKey (key: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scrypt(key, salt, HASH_BYTES, SCRYPT)
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), hash.toString('base64url')].join('$')
}

async function keyMatches (key: string, keyHash: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = keyHash.split('$')
  if (kind !== 'scrypt' || salt === undefined || hash === undefined) return false
  const expected = Buffer.from(hash, 'base64url')
  const actual = await scrypt(key, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem })
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** A throwaway hash, so an unknown device costs the same time as a wrong key. */
let dummyHash: Promise<string> | undefined

export class DeviceStore {
  readonly #backend: IdentityBackend
  readonly #clock: () => number

  constructor (backend: IdentityBackend, clock: () => number = Date.now) {
    this.#backend = backend
    this.#clock = clock
  }

  /** Registers a device; returns its record and its key (the only time the key is seen). */
  async create (broker: BrokerRecord, input: { name: string, description?: string | undefined, key?: string | undefined }): Promise<DeviceRecord & { key: string }> {
    if (!DEVICE_NAME.test(input.name)) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['name', 'letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit'])
    if (input.key !== undefined && !DEVICE_KEY.test(input.key)) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['key', '16 to 256 printable characters without ":" or spaces'])
    const existing = await this.#backend.listDevices(broker.id)
    if (existing.size >= MAX_DEVICES_PER_BROKER) throw new StarlingError('STARLING_ERR_TENANCY_INVALID', ['name', `broker "${broker.name}" has ${MAX_DEVICES_PER_BROKER} devices already`])
    const key = input.key ?? randomBytes(24).toString('base64url')
    const record: StoredDevice = { name: input.name, description: input.description ?? '', created_on: new Date(this.#clock()).toISOString(), keyHash: await hashKey(key) }
    if (!await this.#backend.createDevice(broker.id, input.name, JSON.stringify(record))) throw new StarlingError('STARLING_ERR_TENANCY_EXISTS', [`device "${input.name}" of broker "${broker.name}"`])
    return { name: record.name, description: record.description, created_on: record.created_on, key }
  }

  async list (broker: BrokerRecord): Promise<DeviceRecord[]> {
    const all = await this.#backend.listDevices(broker.id)
    return [...all.values()].map((json) => {
      const { keyHash: _hash, ...record } = JSON.parse(json) as StoredDevice
      return record
    }).sort((a, b) => a.name.localeCompare(b.name))
  }

  async delete (broker: BrokerRecord, name: string): Promise<void> {
    if (!await this.#backend.deleteDevice(broker.id, name)) throw new StarlingError('STARLING_ERR_TENANCY_NOT_FOUND', [`device "${name}" of broker "${broker.name}"`])
  }

  /** Does `key` belong to the device `name` of the broker? (Unknown devices take as long as wrong keys.) */
  async check (brokerId: string, name: string, key: string): Promise<boolean> {
    const json = DEVICE_NAME.test(name) ? await this.#backend.readDevice(brokerId, name) : undefined
    if (json === undefined) {
      dummyHash ??= hashKey(randomBytes(16).toString('hex'))
      await keyMatches(key, await dummyHash)
      return false
    }
    return await keyMatches(key, (JSON.parse(json) as StoredDevice).keyHash)
  }
}
