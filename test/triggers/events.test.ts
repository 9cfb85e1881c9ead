import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, endClient, persistentSession, resumeSession, sleep, stopClient, waitFor, type MqttClient } from '../helpers/clients.js'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { eventWatcher, startEventNode, TRIGGER_GRANT } from '../helpers/triggers.js'

// `$trigger` event topics on one pod (issue 14 §2): each event once, with its JSON fields, only to
// subscribers with a grant, never through `#`, shared among a group's members.

const CONNECTED = '$trigger/messaging/device/connected'
const DISCONNECTED = '$trigger/messaging/device/disconnected'

test('$trigger events on one pod', async (t) => {
  const n = await startEventNode(t, { acl: [TRIGGER_GRANT], 'limits.maxPacketSize': 100_000 })

  await t.test('connected and disconnected (client DISCONNECT, lost connection), each once, with client id, pod, address, time and reason', async (t) => {
    const w = await eventWatcher(t, n.url, '$trigger/messaging/device/+')
    const before = Date.now()
    const device = await connectClient(t, n.url, { protocolVersion: 4, clientId: 'dev-clean' })
    await waitFor(() => w.events(CONNECTED).some((e) => e.clientId === 'dev-clean'), 3000, 'connected event')
    await endClient(device)
    await waitFor(() => w.events(DISCONNECTED).some((e) => e.clientId === 'dev-clean'), 3000, 'disconnected event')
    const lost = await connectClient(t, n.url, { protocolVersion: 5, clientId: 'dev-lost' })
    await waitFor(() => w.events(CONNECTED).some((e) => e.clientId === 'dev-lost'), 3000, 'connected event')
    lost.stream.destroy()
    await waitFor(() => w.events(DISCONNECTED).some((e) => e.clientId === 'dev-lost'), 3000, 'disconnected event')
    await sleep(200)
    const connected = w.events(CONNECTED).filter((e) => e.clientId === 'dev-clean')
    const disconnected = w.events(DISCONNECTED).filter((e) => e.clientId === 'dev-clean')
    assert.equal(connected.length, 1)
    assert.equal(disconnected.length, 1)
    const c = connected[0] as Record<string, any>
    assert.equal(c.event, 'messaging/device/connected')
    assert.equal(c.podId, 'events-node')
    assert.equal(c.remoteAddress, '127.0.0.1')
    assert.equal(c.protocol, '3.1.1')
    assert.equal(c.namespace, 'default')
    assert.equal(c.broker, 'default')
    assert.ok(Date.parse(c.timestamp) >= before - 1000 && Date.parse(c.timestamp) <= Date.now())
    assert.match(c.id, /^[0-9A-Z]{26}$/)
    assert.equal(disconnected[0]?.reason, 'client_disconnect')
    assert.deepEqual(w.events(DISCONNECTED).filter((e) => e.clientId === 'dev-lost').map((e) => e.reason), ['connection_lost'])
  })

  await t.test('disconnected reasons: takeover, keep-alive timeout, server DISCONNECT code', async (t) => {
    const w = await eventWatcher(t, n.url, DISCONNECTED)
    await connectClient(t, n.url, { protocolVersion: 4, clientId: 'dev-taken' })
    await connectClient(t, n.url, { protocolVersion: 4, clientId: 'dev-taken' })
    await waitFor(() => w.events().some((e) => e.clientId === 'dev-taken'), 3000, 'takeover event')
    // Keep Alive 1 s and silence: the server closes after 1.5 s [MQTT-3.1.2-24].
    const { client: silent } = await rawMqttConnect(t, Number(new URL(n.url).port), { protocolVersion: 4, clientId: 'dev-silent', keepalive: 1 })
    await waitFor(() => w.events().some((e) => e.clientId === 'dev-silent'), 5000, 'keep-alive event')
    silent.destroy()
    // A PUBLISH larger than limits.maxPacketSize: DISCONNECT 0x95 Packet too large to an MQTT 5 client.
    const big = await connectClient(t, n.url, { protocolVersion: 5, clientId: 'dev-big' })
    big.on('error', () => {})
    big.publish('data/big', Buffer.alloc(300_000))
    await waitFor(() => w.events().some((e) => e.clientId === 'dev-big'), 5000, 'server disconnect event')
    const reasons = Object.fromEntries(w.events().map((e) => [e.clientId, [e.reason, e.reasonCode]]))
    assert.deepEqual(reasons['dev-taken'], ['takeover', undefined])
    assert.deepEqual(reasons['dev-silent'], ['keepalive_timeout', undefined])
    assert.equal(reasons['dev-big']?.[0], 'server_disconnect')
    assert.equal(reasons['dev-big']?.[1], 0x95)
  })

  await t.test('subscribe and unsubscribe events list the granted filters as the client sent them', async (t) => {
    const w = await eventWatcher(t, n.url, '$trigger/messaging/+')
    const device = await connectClient(t, n.url, { protocolVersion: 5, clientId: 'dev-subs' })
    await device.subscribeAsync(['a/b', 'c/#'], { qos: 1 })
    await device.subscribeAsync('$share/g/jobs/+', { qos: 0 })
    await device.unsubscribeAsync('a/b')
    const of = (topic: string): unknown[] => w.events(topic).filter((e) => e.clientId === 'dev-subs').map((e) => e.topics)
    await waitFor(() => of('$trigger/messaging/unsubscribe').length === 1, 3000, 'unsubscribe event')
    await sleep(100)
    assert.deepEqual(of('$trigger/messaging/subscribe'), [['a/b', 'c/#'], ['$share/g/jobs/+']])
    assert.deepEqual(of('$trigger/messaging/unsubscribe'), [['a/b']])
  })

  await t.test('`#` does not see them; clients may not publish into $trigger', async (t) => {
    const all = await connectClient(t, n.url, { protocolVersion: 5, clientId: 'hash-watcher' })
    const got = collect(all)
    await all.subscribeAsync('#', { qos: 1 })
    const w = await eventWatcher(t, n.url, '$trigger/#')
    const forger = await connectClient(t, n.url, { protocolVersion: 5, clientId: 'forger' })
    await assert.rejects(forger.publishAsync('$trigger/messaging/device/connected', '{"clientId":"fake"}', { qos: 1 }), (err: { code?: number }) => err.code === 0x87)
    await connectClient(t, n.url, { protocolVersion: 5, clientId: 'seen-by-events' })
    await waitFor(() => w.events(CONNECTED).some((e) => e.clientId === 'seen-by-events'), 3000, 'event')
    await sleep(200)
    assert.equal(got.filter((m) => m.topic.startsWith('$')).length, 0)
    assert.ok(!w.events().some((e) => e.clientId === 'fake'))
  })

  await t.test('$share/<group>/$trigger/#: each event to exactly one member', async (t) => {
    const members = await Promise.all([1, 2, 3].map((i) => eventWatcher(t, n.url, '$share/workers/$trigger/messaging/device/connected', { clientId: `worker-${i}` })))
    const ids = Array.from({ length: 30 }, (_, i) => `burst-${i}`)
    for (const id of ids) await stopClient(await connectClient(undefined, n.url, { protocolVersion: 4, clientId: id }))
    const seen = (): string[] => members.flatMap((m) => m.events().map((e) => e.clientId as string)).filter((id) => id.startsWith('burst-'))
    await waitFor(() => seen().length >= ids.length, 5000, 'every event')
    await sleep(300)
    assert.deepEqual(seen().sort(), [...ids].sort())
    assert.ok(members.filter((m) => m.events().length > 0).length >= 2, 'shared among members')
  })

  await t.test('an offline persistent session subscribed to an event gets it queued (its only subscriber)', async (t) => {
    const session = persistentSession(4, 'away-watcher')
    const watcher = await connectClient(undefined, n.url, session)
    // disconnected: the `$share` group of the subtest above still takes `connected` events
    await watcher.subscribeAsync(DISCONNECTED, { qos: 1 })
    await endClient(watcher)
    await stopClient(await connectClient(undefined, n.url, { protocolVersion: 4, clientId: 'dev-while-away' }))
    const got = resumeSession(t, n.url, session)
    const seen = (): unknown[] => got.map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>).filter((e) => e.clientId === 'dev-while-away')
    await waitFor(() => seen().length > 0, 5000, 'the queued disconnected event')
    await sleep(200)
    assert.equal(seen().length, 1)
  })

  await t.test('device/created for issued credentials and registered devices; device/revoked per token id; no token in any event', async (t) => {
    // A TOKEN broker; its watcher holds a token whose subscribe ACL grants the events.
    assert.equal((await n.api('POST', '/v1/namespaces', { name: 'issuers' })).status, 200)
    assert.equal((await n.api('POST', '/v1/namespaces/issuers/brokers', { name: 'main' })).status, 200)
    const base = '/v1/namespaces/issuers/brokers/main'
    const watcherToken = await n.api('POST', `${base}/credentials?clientId=ops&subscribeAcl=${encodeURIComponent('$trigger/device/#')}`)
    assert.equal(watcherToken.status, 200, JSON.stringify(watcherToken.json))
    const [url, opts] = n.ws('issuers', 'main', { clientId: 'ops', username: '', password: (watcherToken.json as Record<string, string>).ops })
    const w = await eventWatcher(t, url, '$trigger/device/+', opts)
    const issued = await n.api('POST', `${base}/credentials?number=2`)
    assert.equal(issued.status, 200, JSON.stringify(issued.json))
    const clientIds = Object.keys(issued.json as Record<string, string>)
    const device = await n.api('POST', `${base}/devices`, { name: 'sensor-1' })
    assert.equal(device.status, 200, JSON.stringify(device.json))
    await waitFor(() => w.events('$trigger/device/created').length === 3, 3000, 'created events')
    const created = w.events('$trigger/device/created')
    assert.deepEqual(created.filter((e) => e.clientId !== undefined).map((e) => e.clientId).sort(), [...clientIds].sort())
    assert.deepEqual(created.filter((e) => e.device !== undefined).map((e) => e.device), ['sensor-1'])
    assert.ok(created.every((e) => e.namespace === 'issuers' && e.broker === 'main'))
    const jti = created.find((e) => e.jti !== undefined)?.jti as string
    const revoked = await n.api('POST', `${base}/revocations?jti=${jti}`)
    assert.equal(revoked.status, 200, JSON.stringify(revoked.json))
    await waitFor(() => w.events('$trigger/device/revoked').length === 1, 3000, 'revoked event')
    assert.equal(w.events('$trigger/device/revoked')[0]?.jti, jti)
    for (const token of Object.values(issued.json as Record<string, string>)) {
      assert.ok(!w.got.some((m) => m.payload.toString().includes(token)), 'no token in an event')
    }
    assert.ok(!w.got.some((m) => m.payload.toString().includes((device.json as { key: string }).key)), 'no device key in an event')
    // The token's grant covers device events only.
    const [, other] = n.ws('issuers', 'main', { clientId: 'ops', username: '', password: (watcherToken.json as Record<string, string>).ops, protocolVersion: 5 })
    const again = await connectClient(t, url, other)
    assert.deepEqual(await subackCodes(again, '$trigger/messaging/#'), [0x87])
  })

  await t.test('a tenant broker\'s subscriber sees its own broker\'s events only', async (t) => {
    assert.equal((await n.api('POST', '/v1/namespaces', { name: 'acme' })).status, 200)
    for (const name of ['alpha', 'beta']) assert.equal((await n.api('POST', '/v1/namespaces/acme/brokers', { name, authType: 'NONE' })).status, 200)
    const [alphaUrl, alphaOpts] = n.ws('acme', 'alpha')
    const alpha = await eventWatcher(t, alphaUrl, '$trigger/#', alphaOpts)
    const root = await eventWatcher(t, n.url, '$trigger/messaging/device/connected')
    const [betaUrl, betaOpts] = n.ws('acme', 'beta', { protocolVersion: 4, clientId: 'beta-device' })
    await connectClient(t, betaUrl, betaOpts)
    const [, alphaDeviceOpts] = n.ws('acme', 'alpha', { protocolVersion: 4, clientId: 'alpha-device' })
    await connectClient(t, alphaUrl, alphaDeviceOpts)
    await waitFor(() => alpha.events(CONNECTED).some((e) => e.clientId === 'alpha-device'), 3000, 'alpha event')
    await sleep(300)
    assert.ok(alpha.events().every((e) => e.broker === 'alpha' && e.namespace === 'acme'))
    assert.ok(!alpha.events().some((e) => e.clientId === 'beta-device'))
    assert.ok(!root.events().some((e) => e.clientId === 'beta-device' || e.clientId === 'alpha-device'), 'the default broker sees no tenant\'s events')
    assert.ok(alpha.got.every((m) => m.topic.startsWith('$trigger/')), 'topics arrive unmounted')
  })
})

/** SUBACK codes of one SUBSCRIBE (mqtt.js rejects a v5 SUBSCRIBE with a refused entry; its packet has them all). */
async function subackCodes (client: MqttClient, filters: string | string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos)
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted
    if (granted === undefined) throw err
    return granted
  }
}

test('$trigger subscriptions need an explicit grant', async (t) => {
  const n = await startEventNode(t, { acl: [{ action: 'subscribe', topic: '#', allow: true }] })
  const v5 = await connectClient(t, n.url, { protocolVersion: 5, clientId: 'no-grant-5' })
  assert.deepEqual(await subackCodes(v5, ['$trigger/#', '$share/g/$trigger/#', 'ok/topic']), [0x87, 0x87, 1])
  const v4 = await connectClient(t, n.url, { protocolVersion: 4, clientId: 'no-grant-4' })
  assert.deepEqual(await subackCodes(v4, '$trigger/messaging/device/connected'), [0x80])
  const narrow = await startEventNode(t, { acl: [{ action: 'subscribe', topic: '$trigger/device/#', allow: true }] }, { nodeId: 'narrow' })
  const c = await connectClient(t, narrow.url, { protocolVersion: 5, clientId: 'narrow' })
  // As for any topic: granted when the filter can match a granted event topic (`$trigger/#` can
  // match `$trigger/device/created`), refused when it can match none; delivery checks each event.
  assert.deepEqual(await subackCodes(c, ['$trigger/device/created', '$trigger/device/+', '$trigger/messaging/#', '$trigger/#']), [1, 1, 0x87, 1])
  // A token's subscribe filter naming $trigger is a grant too (here the config has none).
  assert.equal((await n.api('POST', '/v1/namespaces', { name: 'ops' })).status, 200)
  assert.equal((await n.api('POST', '/v1/namespaces/ops/brokers', { name: 'fleet' })).status, 200)
  const issued = await n.api('POST', `/v1/namespaces/ops/brokers/fleet/credentials?clientId=watcher&subscribeAcl=${encodeURIComponent('$trigger/#')}&subscribeAcl=${encodeURIComponent('data/#')}`)
  const plain = await n.api('POST', `/v1/namespaces/ops/brokers/fleet/credentials?clientId=plain&subscribeAcl=${encodeURIComponent('#')}`)
  const [url, opts] = n.ws('ops', 'fleet', { protocolVersion: 5, clientId: 'watcher', username: '', password: (issued.json as Record<string, string>).watcher })
  const watcher = await connectClient(t, url, opts)
  assert.deepEqual(await subackCodes(watcher, ['$trigger/#', '$share/g/$trigger/messaging/#', 'data/x']), [1, 1, 1])
  const [, plainOpts] = n.ws('ops', 'fleet', { protocolVersion: 5, clientId: 'plain', username: '', password: (plain.json as Record<string, string>).plain })
  assert.deepEqual(await subackCodes(await connectClient(t, url, plainOpts), ['$trigger/#', 'data/x']), [0x87, 1])
})
