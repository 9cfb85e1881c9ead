/**
 * The contract between tenancy (namespaces → brokers), auth (keys, tokens, revocations) and
 * their users (the management API, the CLI, the CONNECT pipeline). Records are what the API
 * returns: JSON-safe, snake_case timestamps as Cloudflare Pub/Sub's API has them.
 */

export type AuthType = 'TOKEN' | 'JWKS' | 'NONE'

/** `TOKEN` brokers' tokens that expire while connected: end the session, or let it run. */
export type TokenExpiryAction = 'disconnect' | 'keep'

export interface TopicAclClaims {
  /** Filters the client may publish to (a topic matching any of them); absent: no limit from the token. */
  readonly publish?: readonly string[]
  /** Filters the client may subscribe within (a filter granted when it can match one of them). */
  readonly subscribe?: readonly string[]
}

/** `JWKS` brokers: the operator's own identity provider. */
export interface JwksSettings {
  readonly url: string
  readonly issuer: string
  readonly audience: string
  /** Claim whose value is the MQTT client id (default `sub`). */
  readonly clientIdClaim: string
  /** Claim holding a list of publish filters (absent: the token does not limit publishing). */
  readonly publishClaim?: string
  /** Claim holding a list of subscribe filters. */
  readonly subscribeClaim?: string
}

export interface BrokerQuotas {
  /** Connections cluster-wide; 0: no limit. */
  readonly maxConnections: number
  /** PUBLISH packets per second cluster-wide; 0: no limit. */
  readonly publishRatePerSecond: number
  /** Inbound payload bytes per second cluster-wide; 0: no limit. */
  readonly bytesPerSecond: number
  /** Retained messages kept; 0: no limit. */
  readonly maxRetained: number
}

/** What happens to a message when its on-publish hook fails (status, time-out, malformed answer, open breaker). */
export type HookFailurePolicy = 'drop' | 'deliver'

/**
 * The broker's on-publish hook (src/hooks): messages POSTed, signed, to `url` (Cloudflare Pub/Sub's
 * contract); the answer decides what is delivered. Absent settings take `hooks.*` of the config.
 */
export interface OnPublishSettings {
  readonly url: string
  /** Topic filters (as the client sees topics); only matching messages go to the hook. Absent: all. */
  readonly filter?: readonly string[]
  /** `drop` (Cloudflare's behaviour, the default) or `deliver` the message unchanged. */
  readonly failurePolicy: HookFailurePolicy
  readonly timeoutMs?: number
  readonly batchSize?: number
  readonly lingerMs?: number
  readonly concurrency?: number
}

export interface BrokerSettings {
  readonly authType: AuthType
  readonly jwks?: JwksSettings
  readonly quotas: BrokerQuotas
  readonly tokenExpiryAction: TokenExpiryAction
  /** Absent: no hook (messages go straight to subscribers). */
  readonly onPublish?: OnPublishSettings
}

export interface NamespaceRecord {
  /** Stable id (ULID), never reused. */
  readonly id: string
  /** RFC 1035 label, unique in the installation. */
  readonly name: string
  readonly description: string
  readonly created_on: string
  readonly modified_on: string
}

/** A broker's own fields: what the API record (BrokerRecord) and the stored form (StoredBroker) share. */
export interface BrokerFields extends BrokerSettings {
  readonly id: string
  /** RFC 1035 label, unique within its namespace. */
  readonly name: string
  readonly namespace: string
  readonly description: string
  readonly created_on: string
  readonly modified_on: string
}

export interface BrokerRecord extends BrokerFields {
  /** `mqtts://<broker>.<namespace>.<tenancy.domain>:8883` (the TLS listener's port). */
  readonly endpoint: string
  /** Hex Ed25519 public key of the broker's newest signing key (verifies tokens and on-publish signatures). */
  readonly publicKey: string
}

export interface NamespaceInput { readonly name: string, readonly description?: string }
export interface NamespacePatch { readonly description?: string }
export interface BrokerInput {
  readonly name: string
  readonly description?: string
  readonly authType?: AuthType
  readonly jwks?: JwksSettings
  readonly quotas?: Partial<BrokerQuotas>
  readonly tokenExpiryAction?: TokenExpiryAction
  readonly onPublish?: Partial<OnPublishSettings> & { readonly url: string }
}
/** `onPublish: null` removes the hook. */
export type BrokerPatch = Partial<Omit<BrokerInput, 'name' | 'onPublish'>> & { readonly onPublish?: BrokerInput['onPublish'] | null }

export type TenancyChange =
  | { readonly kind: 'namespace', readonly name: string }
  | { readonly kind: 'broker', readonly namespace: string, readonly name: string }

/**
 * Namespaces and brokers, in Redis (cluster mode) or in files under `dataDir` (embedded).
 * Errors are StarlingErrors: STARLING_ERR_TENANCY_NOT_FOUND, STARLING_ERR_TENANCY_EXISTS,
 * STARLING_ERR_TENANCY_INVALID (message `<field>: <problem>`), STARLING_ERR_TENANCY_NOT_EMPTY,
 * STARLING_ERR_TENANCY_CONFLICT (concurrent writers, retried 10 times first).
 */
export interface TenancyStore {
  createNamespace (input: NamespaceInput): Promise<NamespaceRecord>
  listNamespaces (): Promise<readonly NamespaceRecord[]>
  getNamespace (name: string): Promise<NamespaceRecord>
  updateNamespace (name: string, patch: NamespacePatch): Promise<NamespaceRecord>
  /** Refused with STARLING_ERR_TENANCY_NOT_EMPTY while it has brokers. */
  deleteNamespace (name: string): Promise<void>
  createBroker (namespace: string, input: BrokerInput): Promise<BrokerRecord>
  listBrokers (namespace: string): Promise<readonly BrokerRecord[]>
  getBroker (namespace: string, name: string): Promise<BrokerRecord>
  /** Synchronous lookup from the local cache (CONNECT path); kept current from other pods' changes. */
  findBroker (namespace: string, name: string): BrokerRecord | undefined
  /** Whether any cached broker has an on-publish hook (false: no PUBLISH needs findBroker for one). Absent: assume some may. */
  hasOnPublishHooks? (): boolean
  /** As findBroker, by the broker's id (auth over MQTT names brokers by id). */
  findBrokerById (id: string): BrokerRecord | undefined
  updateBroker (namespace: string, name: string, patch: BrokerPatch): Promise<BrokerRecord>
  deleteBroker (namespace: string, name: string): Promise<void>
  /** Called for every change, on every pod (within a second in cluster mode). Returns an unsubscribe. */
  onChange (listener: (change: TenancyChange) => void): () => void
  close (): Promise<void>
}

export interface IssueOptions {
  /** How many credentials, 1–100. */
  readonly number: number
  /** Expiry in seconds from now; absent: the token never expires. */
  readonly expiresInSeconds?: number
  /** Valid only from now + this many seconds (`nbf`); `exp` then counts from that moment. Absent: valid at once. */
  readonly notBeforeSeconds?: number
  /** A chosen client id (only with number 1); default: a new ULID each. */
  readonly clientId?: string
  readonly topicAcl?: TopicAclClaims
}

/** What a verified token (TOKEN or JWKS) grants. */
export interface VerifiedToken {
  readonly clientId: string
  readonly jti: string | undefined
  /** Seconds since the epoch; undefined: no expiry. */
  readonly expiresAt: number | undefined
  readonly topicAcl: TopicAclClaims | undefined
}

export interface RevocationRecord {
  readonly jti: string
  readonly revoked_on: string
  /** When the revocation is forgotten (its token's expiry, for tokens this authority issued); null: kept. */
  readonly expires_on: string | null
}

/**
 * Signing keys per broker (Ed25519, several active at once, encrypted at rest), token issue and
 * verification, revocation. Verification failures are StarlingErrors whose code names the reason
 * (STARLING_ERR_TOKEN_INVALID, _EXPIRED, _NOT_YET_VALID, _REVOKED, _WRONG_BROKER, _CLIENT_ID).
 */
export interface TokenAuthority {
  issue (broker: BrokerRecord, options: IssueOptions): Promise<Record<string, string>>
  verify (broker: BrokerRecord, token: string): Promise<VerifiedToken>
  /** The broker's public keys as a JWKS (`{ keys: [{ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }] }`). */
  publicKeys (broker: BrokerRecord): Promise<{ keys: Array<Record<string, string>> }>
  /** Adds a new active key (new tokens are signed with it); older keys keep verifying. Returns its kid. */
  rotateKey (broker: BrokerRecord): Promise<string>
  /** Retires a key: tokens signed with it stop verifying. Refused for the last active key. */
  retireKey (broker: BrokerRecord, kid: string): Promise<void>
  /** Signs bytes with the broker's newest key (on-publish hook signatures). */
  sign (broker: BrokerRecord, data: Uint8Array): Promise<Uint8Array>
  revoke (broker: BrokerRecord, jtis: readonly string[]): Promise<void>
  unrevoke (broker: BrokerRecord, jtis: readonly string[]): Promise<void>
  listRevocations (broker: BrokerRecord): Promise<readonly RevocationRecord[]>
  /** Synchronous: is this token id revoked for the broker, as this pod knows now (re-checks of live sessions). */
  isRevoked (brokerId: string, jti: string): boolean
  /** Called on every pod within a second of a revocation anywhere. Returns an unsubscribe. */
  onRevoke (listener: (brokerId: string, jtis: readonly string[]) => void): () => void
  close (): Promise<void>
}
