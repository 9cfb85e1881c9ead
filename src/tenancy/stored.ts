import type { BrokerFields, BrokerRecord, NamespaceRecord } from './types.js'

/** A broker signing key as stored: the public half in the clear, the private half sealed. */
export interface StoredKey {
  readonly kid: string
  /** Ed25519 public key, base64url (a JWK's `x`). */
  readonly x: string
  /** PKCS#8 private key sealed with AES-256-GCM under the operator's secret (src/auth/sealing.ts). */
  readonly sealed: string
  readonly created_on: string
}

export type StoredNamespace = NamespaceRecord

/** A broker as stored: its record without derived fields, with its signing keys (oldest first). */
export interface StoredBroker extends BrokerFields {
  readonly keys: readonly StoredKey[]
}

export interface EndpointSettings {
  /** `tenancy.domain`. */
  readonly domain: string
  /** The TLS listener's port (`tls.port`). */
  readonly tlsPort: number
}

/** The broker's host name, `<broker>.<namespace>.<domain>` (TLS SNI, WebSocket Host). */
export function brokerHost (namespace: string, name: string, domain: string): string {
  return `${name}.${namespace}.${domain}`
}

/**
 * The broker a host name selects (TLS SNI, WebSocket Host): `<broker>.<namespace>.<domain>`,
 * case-insensitive, a trailing dot and a port ignored; undefined for any other host.
 */
export function parseBrokerHost (host: string, domain: string): { namespace: string, broker: string } | undefined {
  const name = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '')
  const suffix = '.' + domain.toLowerCase()
  if (!name.endsWith(suffix)) return undefined
  const labels = name.slice(0, -suffix.length).split('.')
  if (labels.length !== 2 || labels.some((label) => label === '')) return undefined
  return { broker: labels[0] as string, namespace: labels[1] as string }
}

/** The newest key signs; every key verifies. */
export function newestKey (broker: StoredBroker): StoredKey | undefined {
  return broker.keys[broker.keys.length - 1]
}

export function toBrokerRecord (stored: StoredBroker, endpoint: EndpointSettings): BrokerRecord {
  const { keys, ...rest } = stored
  const newest = newestKey(stored)
  return {
    ...rest,
    endpoint: `mqtts://${brokerHost(stored.namespace, stored.name, endpoint.domain)}:${endpoint.tlsPort}`,
    publicKey: newest !== undefined ? Buffer.from(newest.x, 'base64url').toString('hex') : ''
  }
}

export function brokerPath (namespace: string, name: string): string {
  return `${namespace}/${name}`
}
