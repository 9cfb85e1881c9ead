import { hostname } from 'node:os'
import { z } from 'zod'
import { isValidFilter } from '../broker/topics.js'
import { isCidr } from '../listeners/trusted-proxies.js'

/**
 * The one configuration schema. It gives the TypeScript type, the validation, the defaults,
 * the environment-variable names (derived from the path: `limits.maxPacketSize` →
 * `STARLING_LIMITS_MAX_PACKET_SIZE`) and the README table (scripts/config-docs.ts).
 * Every leaf has a default and a description.
 */

const port = z.number().int().min(0).max(65535)
const host = z.string().min(1)

const aclRule = z.object({
  action: z.enum(['publish', 'subscribe', 'all']),
  // Rules are topic filters [MQTT-4.7.1]; a `$share/...` name is a subscription, never a topic
  // (shared subscriptions are checked on their inner filter).
  topic: z.string().min(1)
    .refine(isValidFilter, 'not a valid topic filter (`#` alone and last, `+` alone in its level)')
    .refine((topic) => !topic.startsWith('$share/'), 'a rule names topics: write the inner filter, not `$share/<group>/...`'),
  allow: z.boolean()
}).strict()

export const configSchema = z.object({
  nodeId: z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only')
    .default(() => hostname().replace(/[^A-Za-z0-9._-]/g, '-') || 'starling')
    .describe('Name of this pod in logs, metrics and the cluster registry (default: the host name).'),
  mqtt: z.object({
    host: host.default('0.0.0.0').describe('Address the MQTT TCP listener binds.'),
    port: port.default(1883).describe('MQTT over TCP port (0 picks a free port).'),
    proxyProtocol: z.boolean().default(false)
      .describe('Expect a PROXY protocol v1/v2 header on every TCP/TLS connection (behind HAProxy or a cloud load balancer).'),
    proxyProtocolTrustedCidrs: z.array(z.string().refine(isCidr, 'an IPv4 or IPv6 CIDR (`10.0.0.0/8`, `fd00::/8`) or address')).default(['127.0.0.0/8', '::1/128'])
      .describe('With `mqtt.proxyProtocol`: the sources (your load balancers) whose PROXY header is believed; a connection from any other address is closed before it is read, counted and logged. Default: loopback only (a proxy on the same host); behind a cloud load balancer list its subnet. Must not be empty when proxyProtocol is on. Env: JSON.')
  }).strict().prefault({})
    .refine((mqtt) => !mqtt.proxyProtocol || mqtt.proxyProtocolTrustedCidrs.length > 0,
      { message: 'proxyProtocol is on but proxyProtocolTrustedCidrs is empty: every connection would be refused; list the load balancer addresses', path: ['proxyProtocolTrustedCidrs'] }),
  tls: z.object({
    port: port.default(8883).describe('MQTT over TLS port; the listener starts only when certFile and keyFile are set.'),
    certFile: z.string().default('').describe('PEM certificate chain for the TLS and WSS listeners.'),
    keyFile: z.string().default('').describe('PEM private key for the TLS and WSS listeners.'),
    caFile: z.string().default('').describe('PEM CA bundle; when set, client certificates are requested and verified.')
  }).strict().prefault({}),
  ws: z.object({
    enabled: z.boolean().default(true).describe('Serve MQTT over WebSocket.'),
    port: port.default(8080).describe('MQTT over WebSocket port.'),
    path: z.string().startsWith('/').default('/mqtt').describe('HTTP path of the WebSocket endpoint (WS and WSS).')
  }).strict().prefault({}),
  wss: z.object({
    port: port.default(8081).describe('MQTT over secure WebSocket port; starts only when tls.certFile and tls.keyFile are set.')
  }).strict().prefault({}),
  http: z.object({
    host: host.default('0.0.0.0').describe('Address the HTTP (health, metrics) listener binds.'),
    port: port.default(9090).describe('HTTP port for /healthz, /readyz, /metrics, /cluster, the management API (`/v1`) and `/openapi.json`.')
  }).strict().prefault({}),
  api: z.object({
    adminTokens: z.array(z.string().min(16, 'at least 16 characters')).default([])
      .describe('Bearer tokens of the management API (`/v1/...`) and `/cluster`, besides `STARLING_ADMIN_TOKEN` and api.adminTokenFile. None at all: the management API is disabled (never open). Env: JSON. Never logged.'),
    adminTokenFile: z.string().default('')
      .describe('File with more admin tokens, one a line (`#` comments), read at start (e.g. a mounted Kubernetes Secret).')
  }).strict().prefault({}),
  metrics: z.object({
    bearerToken: z.string().default('')
      .describe('When set, `/metrics` needs `Authorization: Bearer <token>` (Prometheus\' `authorization` scrape setting); empty: open. Never logged.')
  }).strict().prefault({}),
  redis: z.object({
    url: z.string().default('')
      .refine((v) => v === '' || /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://')
      .describe('Redis URL for cluster mode: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS. With sentinels or cluster nodes it gives only credentials, TLS and db. All empty: embedded in-memory mode.'),
    password: z.string().default('')
      .describe('Redis password (AUTH), for every topology; when set it replaces the one in redis.url, so the URL can stay free of secrets (e.g. `STARLING_REDIS_PASSWORD` from a Kubernetes Secret). Never logged.'),
    sentinels: z.array(z.string().regex(/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, 'host:port')).default([])
      .describe('Redis Sentinel addresses (`["host:port", ...]`); when set, the master named `redis.name` is used. Env: JSON.'),
    name: z.string().min(1).default('mymaster').describe('Master name the sentinels monitor.'),
    cluster: z.object({
      nodes: z.array(z.string().regex(/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, 'host:port')).default([])
        .describe('Redis Cluster seed nodes (`["host:port", ...]`); when set, Starling talks Redis Cluster. Env: JSON.')
    }).strict().prefault({}),
    startTimeoutMs: z.number().int().min(100).default(30000)
      .describe('At start, how long to wait for Redis before giving up, in milliseconds (later outages are waited out, not ready meanwhile).'),
    pingIntervalMs: z.number().int().min(0).default(1000)
      .describe('How often each Redis connection is sent a PING, in milliseconds, to notice a Redis that stops answering without closing the connection (0: off).'),
    pingTimeoutMs: z.number().int().min(50).default(5000)
      .describe('A PING unanswered for this long, in milliseconds, makes the pod not ready (`/readyz` 503, new CONNECTs refused with "server unavailable") until Redis answers again.')
  }).strict().prefault({}),
  cluster: z.object({
    heartbeatMs: z.number().int().min(50).default(5000)
      .describe('Cluster mode: how often a pod renews its entry in the membership registry, in milliseconds. Also aedes\' pod heartbeat and the will and session-expiry sweeps: a pod silent for 3 intervals is dead; from that detection (about 4 intervals after its death) its clients\' wills are due after their Will Delay Interval and their sessions expire after their Session Expiry Interval.'),
    memberTtlMs: z.number().int().min(100).default(15000)
      .describe('Cluster mode: how long a pod stays listed after its last heartbeat, in milliseconds (kept at least twice heartbeatMs); a drained pod leaves at once.'),
    advertiseHost: z.string().default('')
      .describe('Host other pods and `starling cluster status` show for this pod\'s ports (default: the bound host, or the host name when bound to all interfaces).'),
    messageChannels: z.number().int().min(1).max(4096).default(64)
      .describe('Cluster mode: Redis pub/sub channels that carry messages between pods; a topic goes to the channel its first `messageRouteLevels` levels hash to, a filter with a wildcard in those levels listens on all of them. On Redis Cluster they are sharded channels (SPUBLISH) spread evenly over the hash slots. Must be the same on every pod.'),
    messageRouteLevels: z.number().int().min(1).max(16).default(3)
      .describe('Cluster mode: how many leading topic levels choose a message\'s channel (and so its Redis Cluster shard). 3 spreads `devices/<id>/...` and `<tenant>/<site>/<device>/...` fleets over every channel; fewer levels put a whole prefix on one channel, while filters with a wildcard within the levels listen on every channel. One topic always has one channel (per-topic order). Must be the same on every pod: changing it is not a rolling change (docs/scaling.md).'),
    channelLingerMs: z.number().int().min(0).max(3600000).default(10000)
      .describe('Cluster mode: how long a pod stays subscribed to a message channel after its last local subscription on it went, in milliseconds. A persistent session that reconnects meanwhile needs no channel SUBSCRIBE and no interest round with the other pods; meanwhile they keep sending that channel\'s messages through Redis. 0 unsubscribes at once.')
  }).strict().prefault({}),
  limits: z.object({
    maxConnections: z.number().int().min(1).default(100000)
      .describe('Connections this pod accepts, counting sockets that have not sent CONNECT (or their PROXY header) yet; beyond it CONNACK 0x97 (v5) / 3 (v3.1.1), and a socket arriving more than max(64, min(maxConnections, 1024)) beyond it is closed at once.'),
    maxPacketSize: z.number().int().min(64).max(268435460).default(1048576)
      .describe('Largest MQTT packet accepted, in bytes; larger ones get DISCONNECT 0x95 (v5) or are dropped with the connection (v3.1.1).'),
    receiveMaximum: z.number().int().min(1).max(65535).default(100)
      .describe('Unacknowledged inbound QoS 1/2 publishes a client may have in flight; exceeding it gets DISCONNECT 0x93.'),
    maxKeepAlive: z.number().int().min(1).max(65535).default(3600)
      .describe('Longest keep alive in seconds; an MQTT 5 client asking for more (or for 0) gets this as Server Keep Alive.'),
    maxQueuedMessages: z.number().int().min(1).default(1000)
      .describe('QoS 1/2 messages queued per session (offline, or waiting for the client\'s Receive Maximum window); further messages are dropped for that session and counted.'),
    connectTimeoutMs: z.number().int().min(100).default(10000)
      .describe('Time a new connection has to send CONNECT, in milliseconds.'),
    topicAliasMaximum: z.number().int().min(0).max(65535).default(100)
      .describe('Topic aliases an MQTT 5 client may register towards the broker (0 disables them).'),
    maxSessionExpirySeconds: z.number().int().min(0).default(604800)
      .describe('Upper bound on a requested MQTT 5 Session Expiry Interval, in seconds (default 7 days; 0: no bound). An MQTT 5 client asking for more (or for "never") gets this in CONNACK.'),
    maxSubscriptionsPerClient: z.number().int().min(1).default(1000)
      .describe('Subscriptions one client may hold (shared ones included); a further one gets SUBACK 0x97 (v5) / 0x80 (v3.1.1).'),
    maxTopicLength: z.number().int().min(1).max(65535).default(4096)
      .describe('Longest topic name or filter, in UTF-8 bytes (the wire allows 65535): a longer PUBLISH gets PUBACK/PUBREC 0x90 (v5; QoS 0 and 3.1.1: dropped), a longer filter SUBACK 0x8F (v5) / 0x80.'),
    maxTopicLevels: z.number().int().min(1).max(100).default(100)
      .describe('Most levels (`/`-separated) in a topic name or filter; answered as maxTopicLength. 100 is also the bus\' and persistence\'s ceiling.'),
    maxWillPayloadBytes: z.number().int().min(0).default(65536)
      .describe('Largest will payload, in bytes; a CONNECT with a larger will gets CONNACK 0x97 Quota exceeded (v5) / 3 (v3.1.1). The packet itself is within maxPacketSize, so not 0x95.'),
    publishRatePerClient: z.number().min(0).default(0)
      .describe('PUBLISH packets per second one connection may send (token bucket, bursts up to one second\'s worth); beyond it QoS 1/2 get PUBACK/PUBREC 0x97 Quota exceeded (v5; 0x96 is a DISCONNECT-only code), QoS 0 and 3.1.1 are dropped; all counted. 0: no limit.'),
    publishBytesPerClient: z.number().int().min(0).default(0)
      .describe('Payload bytes per second one connection may publish (token bucket, one second\'s burst); answered as publishRatePerClient. 0: no limit.'),
    connectRatePerAddress: z.number().min(0).default(0)
      .describe('CONNECTs per second from one source address (after PROXY protocol), bursts up to one second\'s worth; beyond it CONNACK 0x9F Connection rate exceeded (v5) / 3 (v3.1.1). The last 10,000 addresses are remembered. 0: no limit.'),
    maxOutboundBufferBytes: z.number().int().min(0).default(4194304)
      .describe('Bytes a client\'s socket may buffer towards a client that does not read (slow reader); beyond it QoS 0 messages to that client are dropped and counted (`reason="slow_reader"`). 0: no limit.'),
    slowReaderTimeoutMs: z.number().int().min(100).default(10000)
      .describe('A client over maxOutboundBufferBytes for this long, in milliseconds, is disconnected: DISCONNECT 0x97 (v5), closed socket (v3.1.1).'),
    maxPendingDeliveries: z.number().int().min(1).default(10000)
      .describe('Cluster mode: messages from the cluster bus being delivered to this pod\'s subscribers at once; beyond it further QoS 0 messages from the bus are dropped and counted (`reason="bus_backlog"`), QoS 1/2 still delivered.'),
    maxRetainedMessages: z.number().int().min(0).default(1000000)
      .describe('Retained messages the installation keeps (cluster-wide, the count re-read every second); a retained PUBLISH storing one more is refused: PUBACK/PUBREC 0x97 (v5; QoS 0 and 3.1.1: dropped); clearing one (empty payload) always works. 0: no limit.'),
    maxRetainedBytes: z.number().int().min(0).default(268435456)
      .describe('Payload bytes of all retained messages the installation keeps (cluster-wide, the total re-read every second; default 256 MiB); a retained PUBLISH that would go over it is refused: PUBACK/PUBREC 0x97 (v5; QoS 0 and 3.1.1: dropped); clearing one (empty payload) always works. In cluster mode counted from the writes of this version on (retained messages stored before count 0 until replaced). 0: no limit.'),
    maxPersistentSessions: z.number().int().min(0).default(1000000)
      .describe('Sessions that outlive their connection (MQTT 5 Session Expiry > 0, 3.1.1 Clean Session 0) the installation keeps (cluster-wide, the count re-read every second); a CONNECT that would create one more is refused: CONNACK 0x97 Quota exceeded (3.1.1: return code 3); resuming an existing session always works. 0: no limit.'),
    maxRetainedScan: z.number().int().min(1000).default(100000)
      .describe('Cluster mode: retained topic names one SUBSCRIBE reads from the retained index at most (a filter starting with a wildcard that matches few topics would read them all); beyond it the lookup ends and is counted.'),
    maxRetainedPerSubscription: z.number().int().min(1).default(10000)
      .describe('Retained messages sent for one new subscription (a wildcard filter may match many); beyond it they are left out and counted.')
  }).strict().prefault({}),
  share: z.object({
    maxGroups: z.number().int().min(1).default(1000)
      .describe('Shared subscription groups the installation keeps (cluster-wide, counting groups forgotten only after share.maxAgeMs); a subscription creating one more gets SUBACK 0x97 (v5) / 0x80 (v3.1.1).'),
    maxGroupsPerClient: z.number().int().min(1).default(10)
      .describe('Shared subscriptions (`$share/...`) one client may hold; a further one gets SUBACK 0x97 (v5) / 0x80 (v3.1.1).'),
    maxGroupNameLength: z.number().int().min(1).max(65535).default(128)
      .describe('Longest shared subscription group name (ShareName), in UTF-8 bytes; longer ones, and names with control characters, get SUBACK 0x8F (v5) / 0x80 (v3.1.1).'),
    metricsMaxGroups: z.number().int().min(0).default(50)
      .describe('Group names used as the `group` label of the `starling_share_*` series: the first groups seen keep their name while they exist, the others are summed under `group="+other"`; a forgotten group\'s series are removed.'),
    maxLength: z.number().int().min(1).default(100000)
      .describe('Shared subscriptions: messages one group\'s queue keeps (waiting or unacknowledged); beyond it the oldest are dropped and counted (checked every share.sweepMs).'),
    maxBytes: z.number().int().min(0).default(67108864)
      .describe('Shared subscriptions: payload bytes one group\'s queue keeps waiting; beyond it the oldest are dropped and counted (`reason="max_bytes"`). Cluster mode: the stream\'s memory as Redis reports it, checked every share.sweepMs (approximate). 0: no bound.'),
    maxAgeMs: z.number().int().min(1000).default(3600000)
      .describe('Shared subscriptions: how long a message may wait in a group\'s queue, in milliseconds; older ones are dropped and counted. A group with no member left is forgotten after this long.'),
    claimIdleMs: z.number().int().min(100).default(30000)
      .describe('Cluster mode: a group message handed out by a pod that stopped renewing it (the pod died) for this long, in milliseconds, is claimed by another pod and redelivered.'),
    inflightPerMember: z.number().int().min(1).max(65535).default(128)
      .describe('Group messages in flight to one member at once (also bounded by its Receive Maximum).'),
    readBatch: z.number().int().min(1).max(1000).default(32)
      .describe('Most messages one member takes from its group\'s queue in one turn: members take turns in the order they ask, so smaller turns share more evenly, larger ones cost fewer Redis round trips (a turn only takes what is waiting, so it is large only behind a backlog).'),
    sweepMs: z.number().int().min(50).default(1000)
      .describe('How often a pod trims group queues (length, age), reclaims abandoned group messages and refreshes the group metrics, in milliseconds.'),
    blockingReads: z.number().int().min(1).max(1024).default(64)
      .describe('Cluster mode: Redis connections a pod uses for waiting group reads (one per member waiting for messages).')
  }).strict().prefault({}),
  clientIdConflict: z.enum(['takeover', 'reject']).default('takeover')
    .describe('A second connection with a connected client id: take the session over (MQTT rule; old connection gets DISCONNECT 0x8E) or reject the newcomer (CONNACK "identifier rejected").'),
  acl: z.array(aclRule).default([])
    .describe('Static topic rules, first match wins, default allow: `[{ action: publish|subscribe|all, topic: filter, allow: bool }]`. A subscription is granted when its filter can match an allowed topic; every message is checked at delivery. Env: JSON.'),
  drainSeconds: z.number().min(0).max(3600).default(10)
    .describe('On SIGTERM: seconds to let clients leave and persistence flush before the process exits.'),
  dataDir: z.string().min(1).default('./data')
    .describe('Embedded mode: directory (created mode 0700, files 0600) keeping namespaces, brokers, their encrypted signing keys, revocations and the generated secret key across restarts; relative to the working directory. Unused in cluster mode (all of it is in Redis).'),
  tenancy: z.object({
    domain: z.string().min(1).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'a DNS name in lowercase').default('localhost')
      .describe('DNS suffix of broker endpoints: `<broker>.<namespace>.<domain>` (TLS SNI and WebSocket Host select the broker).')
  }).strict().prefault({}),
  auth: z.object({
    secretKey: z.string().default('')
      .refine((v) => v === '' || v.length >= 32, 'at least 32 characters (e.g. `openssl rand -base64 32`)')
      .describe('Operator secret the brokers\' private signing keys are encrypted with (AES-256-GCM under an HKDF-SHA256 key derived from it). Also read from `STARLING_SECRET_KEY`. Required in cluster mode; embedded mode without it generates one into `dataDir/secret.key`. Never logged; losing it makes every signing key unusable.'),
    defaultBrokerAuthType: z.enum(['auto', 'TOKEN', 'NONE']).default('auto')
      .describe('Auth type of the `default` broker (namespace `default`) created at start when absent: `auto` is NONE in embedded mode (the quick start; a warning when served beyond loopback) and TOKEN in cluster mode. TOKEN or NONE is also applied to an existing `default` broker at start.'),
    revocationsMax: z.number().int().min(1).default(100000)
      .describe('Revoked token ids one broker keeps (a revocation is kept until its token would expire, forever for tokens without expiry); revoking more is refused.'),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(5)
      .describe('Clock skew tolerated when checking a token\'s `exp` and `nbf`, in seconds.'),
    failureDelayMaxMs: z.number().int().min(0).max(60000).default(5000)
      .describe('Longest delay of the answer to a CONNECT from an address whose token CONNECTs failed: 100 ms after one failure, doubling with each further one up to this; an address is forgotten a minute after its last failure (10,000 addresses kept). 0 turns the slow-down off.'),
    jwksCooldownMs: z.number().int().min(0).default(30000)
      .describe('JWKS brokers: least time between two fetches of the identity provider\'s JWKS, in milliseconds (a token with an unknown `kid` triggers a fetch).'),
    jwksCacheMaxAgeMs: z.number().int().min(1000).default(600000)
      .describe('JWKS brokers: how long a fetched JWKS is used before it is fetched again, in milliseconds.'),
    jwksTimeoutMs: z.number().int().min(100).default(5000)
      .describe('JWKS brokers: time allowed for one JWKS fetch, in milliseconds; beyond it CONNECTs are refused with 0x88 (server unavailable).')
  }).strict().prefault({}),
  hooks: z.object({
    timeoutMs: z.number().int().min(1).max(60000).default(10000)
      .describe('On-publish hooks: time a hook endpoint has to answer a batch, in milliseconds (Cloudflare\'s 10 s); beyond it the batch fails (failure policy). A broker\'s `onPublish.timeoutMs` overrides it.'),
    batchSize: z.number().int().min(1).max(1000).default(100)
      .describe('On-publish hooks: most messages in one POST. A broker\'s `onPublish.batchSize` overrides it.'),
    lingerMs: z.number().int().min(0).max(1000).default(0)
      .describe('On-publish hooks: how long a batch waits to fill before it is sent, in milliseconds; 0 sends at once when a request slot is free (batches still form while all slots are busy). A broker\'s `onPublish.lingerMs` overrides it.'),
    concurrency: z.number().int().min(1).max(256).default(16)
      .describe('On-publish hooks: requests in flight at once per broker and pod (kept-alive connections). A broker\'s `onPublish.concurrency` overrides it.'),
    maxPending: z.number().int().min(1).default(20000)
      .describe('On-publish hooks: messages one broker may have waiting for its hook on a pod; beyond it new ones get the failure policy at once.'),
    breakerFailures: z.number().int().min(1).default(5)
      .describe('On-publish hooks: consecutive failed requests (status, time-out, network, malformed answer) that open a broker\'s circuit breaker; while open, messages get the failure policy without a request.'),
    breakerOpenMs: z.number().int().min(10).default(5000)
      .describe('On-publish hooks: how long an open circuit breaker waits before one probe request (half-open); its success closes the breaker, its failure opens it again.'),
    maxBrokerSeries: z.number().int().min(1).default(1000)
      .describe('On-publish hooks: brokers labelled in the hook metrics on one pod (the first seen); the others are summed under `_other`.')
  }).strict().prefault({}),
  triggers: z.object({
    enabled: z.boolean().default(true)
      .describe('Publish `$trigger/...` event topics (device created/revoked, connected, disconnected, subscribe, unsubscribe) in each broker\'s topic space; subscribing to them needs an ACL grant naming `$trigger`.'),
    maxPayloadBytes: z.number().int().min(512).max(65536).default(4096)
      .describe('Longest `$trigger` event payload (JSON), in bytes: long fields are cut to 256 characters and the filter list of a subscribe event is shortened (`truncated: true`).')
  }).strict().prefault({}),
  mqttAuth: z.object({
    enabled: z.boolean().default(false)
      .describe('Auth over MQTT (ClearBlade\'s): a listener where a registered device connects with username = broker id and client id `<device>:<key>`, subscribes to `auth` and receives a token, its name and the MQTT endpoint.'),
    host: z.string().min(1).default('0.0.0.0')
      .describe('Address the auth-over-MQTT listener binds.'),
    port: z.number().int().min(0).max(65535).default(8905)
      .describe('Port of the auth-over-MQTT listener (plain TCP; ClearBlade uses 8905). 0: any free port.'),
    tokenExpirySeconds: z.number().int().min(0).default(86400)
      .describe('Lifetime of the tokens auth over MQTT hands out, in seconds (0: no expiry).'),
    endpointUrl: z.string().default('')
      .describe('MQTT endpoint URL sent with the token; empty: the broker\'s own endpoint (`mqtts://<broker>.<namespace>.<tenancy.domain>:<tls.port>`).'),
    timeoutMs: z.number().int().min(100).default(10000)
      .describe('Time one auth-over-MQTT connection may take from accept to the token, in milliseconds; then it is closed.'),
    maxConnections: z.number().int().min(1).default(1000)
      .describe('Auth-over-MQTT connections open at once; more are closed at accept.'),
    failureDelayMaxMs: z.number().int().min(0).default(5000)
      .describe('Longest delay before answering a CONNECT from an address with recent wrong keys (doubling from 100 ms per failure, forgotten after a minute); 0: no slow-down.')
  }).strict().prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino).')
  }).strict().prefault({})
}).strict()

export type StarlingConfig = z.infer<typeof configSchema>
export type StarlingConfigInput = z.input<typeof configSchema>
export type AclRule = z.infer<typeof aclRule>
