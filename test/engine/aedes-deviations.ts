// The tests of aedes' own suite (node_modules/aedes/test) that fail against the patched engine on
// purpose, each with the rule behind Starling's behaviour and the row of the README patch table
// ("Our patches to aedes") that made the change. test/engine/aedes-suite.test.ts skips exactly
// these, fails on any other failure, and checks that each of these still exists and still fails.

/** Why a test is on the list. */
export type DeviationKind =
  /** Starling follows the spec where the test asserts aedes' non-conforming behaviour. */
  | 'spec'
  /** The test depends on an aedes detail Starling changed on purpose (an event, an error text, a
   *  write pattern); the behaviour a client sees is the same or conforming. */
  | 'internals'

export interface AedesDeviation {
  /** The test file inside node_modules/aedes/test. */
  readonly file: string
  /** The exact test name. */
  readonly test: string
  readonly kind: DeviationKind
  /** The MQTT rule Starling follows (a conformance id, or the section). */
  readonly rule: string
  /** What the test expects and what Starling does instead, in one line. */
  readonly why: string
  /** The "where" cell of the README patch-table row of the change. */
  readonly patchRow: string
}

const resendDup = (file: string, test: string): AedesDeviation => ({
  file,
  test,
  kind: 'spec',
  rule: '[MQTT-3.3.1-1] [MQTT-4.4.0-1]',
  why: 'the message was routed to the subscriber\'s closing connection, so its resend on the resumed session carries DUP=1 (aedes always sent DUP=0)',
  patchRow: 'lib/handlers/connect.js (emptyQueue)'
})

const invalidFilters = ['base/#/sub', 'base/#sub', 'base/sub#', 'base/xyz+/sub', 'base/+xyz/sub', '']

export const aedesDeviations: readonly AedesDeviation[] = [
  {
    file: 'auth.js',
    test: 'do not authorize publish',
    kind: 'spec',
    rule: '[MQTT-3.3.5-2]',
    why: 'a 3.1.1 PUBLISH refused by authorizePublish is acknowledged and dropped and the client stays connected; the test expects the connection closed',
    patchRow: 'handlers/publish.js (a 3.1.1 publish refused by the ACL)'
  },
  {
    file: 'auth.js',
    test: 'negate subscription with correct persistence',
    kind: 'spec',
    rule: 'MQTT 3.1.1 §3.9.3, MQTT 5 §3.9.3 (a failure return code creates no subscription)',
    why: 'a persistent session stores only the granted entries; the test expects the refused (0x80) entry stored too',
    patchRow: 'handlers/subscribe.js (a persistent session stores only the entries that were granted)'
  },
  {
    file: 'client-pub-sub.js',
    test: 'offline message support for direct publish',
    kind: 'spec',
    rule: '[MQTT-4.4.0-1]',
    why: 'the unacknowledged message keeps its packet id on the resumed session, so the test\'s PUBACK of that id acknowledges it and the replay skips it, keeping the connection; the test waits for it to be resent under a new id, as aedes did',
    patchRow: 'lib/handlers/connect.js (emptyQueue)'
  },
  {
    file: 'close_socket_by_other_party.js',
    test: 'aedes is closed before client authenticate returns',
    kind: 'spec',
    rule: '[MQTT-3.2.2-6]',
    why: 'a CONNECT answered while the broker closes gets CONNACK 3 and is closed; the test expects no CONNACK at all (aedes left the connection hanging)',
    patchRow: 'handlers/connect.js (authenticate): a CONNECT answered while the broker closes'
  },
  {
    file: 'connect.js',
    test: 'reject clients that exceed the keepalive limit',
    kind: 'spec',
    rule: '[MQTT-3.2.2-6]',
    why: 'a 3.1.1 client whose keep alive is above the limit is accepted (return code 6 does not exist in 3.1.1); the test expects return code 6',
    patchRow: 'lib/handlers/connect.js (init)'
  },
  {
    file: 'connect.js',
    test: 'clients with zero-byte clientid and clean=false on MQTT 5.0 get an assigned clientId',
    kind: 'spec',
    rule: '[MQTT-3.1.3-5] MQTT 5 §3.2.2.3.7',
    why: 'the assigned client id is `starling` + 15 base-62 characters (23 of [0-9a-zA-Z], which every server must accept); the test expects the `aedes_` prefix',
    patchRow: 'lib/handlers/connect.js (init, assignClientId)'
  },
  {
    file: 'connect.js',
    test: 'clients without clientid and clean=true on MQTT 3.1.1 will get a generated clientId',
    kind: 'spec',
    rule: '[MQTT-3.1.3-5] MQTT 5 §3.2.2.3.7',
    why: 'the assigned client id is `starling` + 15 base-62 characters (23 of [0-9a-zA-Z], which every server must accept); the test expects the `aedes_` prefix',
    patchRow: 'lib/handlers/connect.js (init, assignClientId)'
  },
  {
    file: 'connect.js',
    test: 'clients with zero-byte clientid and clean=true on MQTT 3.1.1 will get a generated clientId',
    kind: 'spec',
    rule: '[MQTT-3.1.3-5] MQTT 5 §3.2.2.3.7',
    why: 'the assigned client id is `starling` + 15 base-62 characters (23 of [0-9a-zA-Z], which every server must accept); the test expects the `aedes_` prefix',
    patchRow: 'lib/handlers/connect.js (init, assignClientId)'
  },
  {
    file: 'qos1.js',
    test: 'remove stored subscriptions after unsubscribe',
    kind: 'spec',
    rule: '[MQTT-3.2.2-2]',
    why: 'a CleanSession 0 session exists after its last UNSUBSCRIBE, so the reconnect gets Session Present 1; aedes derived Session Present from stored subscriptions and the test expects 0',
    patchRow: 'lib/handlers/connect.js (fetchSubs, restoreSubs, new step recordSession)'
  },
  {
    file: 'qos1.js',
    test: 'publish QoS 1 throws error',
    kind: 'internals',
    rule: '[MQTT-4.3.2-3]',
    why: 'a failed subscription lookup fails that publish (no positive PUBACK) instead of emitting a broker \'error\', which the test waits for',
    patchRow: 'aedes.js (DoEnqueues): a failed subscription lookup fails that publish'
  },
  resendDup('qos1.js', 'resend publish on non-clean reconnect QoS 1'),
  resendDup('qos1.js', 'do not resend QoS 1 packets at each reconnect'),
  {
    file: 'qos1.js',
    test: 'resend many publish on non-clean reconnect QoS 1',
    kind: 'internals',
    rule: 'MQTT §4.2 (the connection is a byte stream; packet boundaries need not match writes)',
    why: 'Starling writes one event-loop turn\'s packets in one socket write; the test\'s packet reader (helper.js packetGenerator) pauses its socket at two buffered packets and, with lowWaterMark 0, never resumes, so it stalls after the first batch',
    patchRow: 'lib/write.js (a client\'s socket is corked until the end of the event-loop turn)'
  },
  resendDup('qos2.js', 'resend publish on non-clean reconnect QoS 2'),
  resendDup('qos2.js', 'resend pubrel on non-clean reconnect QoS 2'),
  resendDup('retain.js', 'disconnect and retain messages with QoS 1 [clean=false]'),
  resendDup('retain.js', 'disconnect and two retain messages with QoS 1 [clean=false]'),
  {
    file: 'topics.js',
    test: 'deliver overlapped topics respecting the maximum QoS of all the matching subscriptions - QoS 2 publish',
    kind: 'spec',
    rule: '[MQTT-3.3.4-2] [MQTT-3.3.4-3]',
    why: 'overlapping subscriptions (hello/world QoS 0, hello/# QoS 2) get one copy at the highest matching QoS, 2; the test expects aedes\' copy at the first subscription\'s QoS 0',
    patchRow: 'lib/topic-match.js (new), handlers/subscribe.js, lib/client.js, handlers/unsubscribe.js (overlapping subscriptions)'
  },
  ...[
    'subscribe to a topic with too many levels raises an error',
    'topic at the level limit is accepted, one above is rejected',
    'maxTopicLevels is clamped to a maximum of 100',
    'maxTopicLevels of 0 is clamped to 1 (cannot be disabled)',
    'over-limit SUBSCRIBE on a persistent session is rejected before persistence'
  ].map((test): AedesDeviation => ({
    file: 'topics.js',
    test,
    kind: 'spec',
    rule: '[MQTT-3.8.4-5] [MQTT-3.9.3-2] (one failure code per refused filter in the SUBACK)',
    why: 'a filter deeper than maxTopicLevels is refused in its SUBACK entry (0x80 / 0x8F) like any filter the broker cannot serve, and the connection is kept; the test waits for a clientError and the connection closed',
    patchRow: 'handlers/subscribe.js (an invalid filter is refused in its SUBACK entry)'
  })),
  ...['#', '+'].map((wildcard): AedesDeviation => ({
    file: 'topics.js',
    test: `publish invalid topic with ${wildcard}`,
    kind: 'internals',
    rule: '[MQTT-3.3.2-2]',
    why: `the connection is closed as in aedes, but the clientError says 'wildcard or NUL is not allowed in a PUBLISH topic' (one check for '#', '+' and NUL); the test expects '${wildcard} is not allowed in PUBLISH'`,
    patchRow: 'handlers/publish.js (a topic name with wildcards)'
  })),
  ...invalidFilters.map((filter): AedesDeviation => ({
    file: 'topics.js',
    test: `subscribe to invalid topic with "${filter}"`,
    kind: 'spec',
    rule: '[MQTT-4.7.1-1] [MQTT-3.9.3-2]',
    why: 'an invalid filter is refused in its SUBACK entry (0x80) and the connection is kept; the test waits for the connection to be closed with a clientError',
    patchRow: 'handlers/subscribe.js (an invalid filter is refused in its SUBACK entry)'
  })),
  ...invalidFilters.map((filter): AedesDeviation => ({
    file: 'topics.js',
    test: `unsubscribe to invalid topic with "${filter}"`,
    kind: 'spec',
    rule: '[MQTT-4.7.1-1]',
    why: 'an invalid filter in UNSUBSCRIBE gets a normal UNSUBACK (3.1.1) and the connection is kept; the test waits for the connection to be closed with a clientError',
    patchRow: 'lib/handlers/unsubscribe.js'
  }))
]

/** aedes test files that cannot run here, with the reason (all their tests count as skipped). */
export const aedesEnvironmentSkips: readonly { readonly file: string, readonly reason: string }[] = [
  {
    file: 'drain-toxiproxy.js',
    reason: 'starts a Toxiproxy container through Docker (testcontainers, toxiproxy-node-client); CI has no Docker'
  }
]
