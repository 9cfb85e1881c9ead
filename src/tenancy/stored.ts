import type { BrokerRecord, BrokerSettings, NamespaceRecord } from './types.js'

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
export interface StoredBroker extends BrokerSettings {
  readonly id: string
  readonly name: string
  readonly namespace: string
  readonly description: string
  readonly created_on: string
  readonly modified_on: string
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
