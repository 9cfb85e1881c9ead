import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import type { IClientOptions } from 'mqtt'
import type { IDisconnectPacket } from 'mqtt-packet'
import { collect, connectClient, connectWithAck, refusedCode, sleep, stopClient, waitFor, type MqttClient, type Received } from '../helpers/clients.js'
import { brokerArgs, mosquittoPub, mosquittoSub } from '../helpers/mosquitto.js'
import { startPods, type Pod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'

// The operator flow of the README ("Management API and CLI", "Connecting with a token") as a user
// runs it: a real Redis, two `starling serve` pods sharing the secret key and the admin token, the
// `starling pubsub` CLI as a process, mqtt.js and Mosquitto's clients. Refusal reasons one by one
// are in connect-auth*.test.ts; isolation on one node over NONE brokers in test/tenancy/.
// Pods and the CLI run dist/: `npm run build` first.

const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))
const ADMIN_TOKEN = 'operator-flow-admin-token-0123456789'
const DOMAIN = 'pubsub.test'

interface Cli { code: number, stdout: string, stderr: string }

function pubsub (apiUrl: string, args: readonly string[]): Promise<Cli> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'pubsub', ...args], {
      env: { PATH: process.env.PATH ?? '', STARLING_API_URL: apiUrl, STARLING_ADMIN_TOKEN: ADMIN_TOKEN },
      timeout: 20000
    }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

const claims = (token: string): { sub: string, jti: string, aud: string, acl?: unknown } => decodeJwt(token) as never
const payloads = (got: readonly Received[], topic?: string): string[] =>
  got.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload.toString())

function serverDisconnect (client: MqttClient): Promise<{ code: number | 'closed', at: number }> {
  return new Promise((resolve) => {
    client.once('disconnect', (packet: IDisconnectPacket) => resolve({ code: packet.reasonCode ?? 0, at: Date.now() }))
    client.once('close', () => resolve({ code: 'closed', at: Date.now() }))
  })
}

function wsPort (pod: Pod): number {
  const ready = pod.logLines(/^starling ready$/)[0] as { listeners?: string[] } | undefined
  const entry = ready?.listeners?.find((l) => l.startsWith('ws@'))
  assert.ok(entry !== undefined, 'the pod serves WebSocket')
  return Number(entry.slice(entry.lastIndexOf(':') + 1))
}

test('operator flow on two pods through the CLI: namespace, two TOKEN brokers, tokens for mqtt.js and Mosquitto (3.1.1, 5), isolation, revocation, rotation, JWKS, usage, endpoints, API errors', async (t) => {
  const redis = await startRedis(t)
  const env = {
    STARLING_ADMIN_TOKEN: ADMIN_TOKEN,
    // What cluster mode does unless told otherwise (the helper's default is an anonymous default broker).
    STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'auto',
    STARLING_TENANCY_DOMAIN: DOMAIN,
    STARLING_WS_ENABLED: 'true',
    STARLING_WS_PORT: '0',
    // The slow-down after refusals has its own test; here a refusal must not delay later steps.
    STARLING_AUTH_FAILURE_DELAY_MAX_MS: '0',
    // `$SYS` needs a grant (README "Access control"): the operator's watchers read each broker's own.
    STARLING_ACL: JSON.stringify([{ action: 'subscribe', topic: '$SYS/#', allow: true }])
  }
  const [a, b] = await startPods(t, ['pod-a', 'pod-b'], { redisUrl: redis.url, env }) as [Pod, Pod]
  const apiA = `http://127.0.0.1:${a.httpPort}`
  const apiB = `http://127.0.0.1:${b.httpPort}`
  /** `starling pubsub ...` against a pod's API; JSON result, or the test fails with the CLI's stderr. */
  const cli = async (api: string, ...args: string[]): Promise<any> => {
    const r = await pubsub(api, args)
    assert.equal(r.code, 0, `starling pubsub ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout)
  }

  // Without a token, cluster mode's default broker refuses (auth on by default).
  assert.equal(await refusedCode(a.url, { protocolVersion: 5, clientId: 'anonymous' }), 0x87)

  // The seed's steps: a namespace, brokers (TOKEN by default), tokens. Pod A's API creates, pod B's sees.
  const ns = await cli(apiA, 'namespace', 'create', 'my-namespace')
  assert.equal(ns.name, 'my-namespace')
  const east = await cli(apiA, 'broker', 'create', 'east', '--namespace=my-namespace')
  const west = await cli(apiB, 'broker', 'create', 'west', '--namespace', 'my-namespace')
  assert.deepEqual([east.authType, west.authType], ['TOKEN', 'TOKEN'])
  assert.match(east.endpoint, new RegExp(`^mqtts://east\\.my-namespace\\.${DOMAIN.replace('.', '\\.')}:\\d+$`))
  assert.deepEqual((await cli(apiB, 'broker', 'list', '--namespace', 'my-namespace')).map((x: any) => x.name).sort(), ['east', 'west'])

  const eastTokens = await cli(apiA, 'broker', 'issue', 'east', '--namespace=my-namespace', '--number=2', '--expiration=48h') as Record<string, string>
  const westTokens = await cli(apiB, 'broker', 'issue', 'west', '--namespace', 'my-namespace', '--number', '2', '--expiration', '48h') as Record<string, string>
  assert.equal(Object.keys(eastTokens).length, 2)
  const [[e1Id, e1], [e2Id, e2]] = Object.entries(eastTokens) as [[string, string], [string, string]]
  const [[w1Id, w1], [w2Id, w2]] = Object.entries(westTokens) as [[string, string], [string, string]]
  for (const [id, token] of [[e1Id, e1], [w1Id, w1]] as const) {
    assert.equal(claims(token).sub, id)
    const exp = decodeJwt(token).exp as number
    assert.ok(Math.abs(exp - (Date.now() / 1000 + 48 * 3600)) < 120, '--expiration=48h')
  }
  // A token limited to one subtree (`--topic-acl`: publish and subscribe).
  const limited = Object.entries(await cli(apiA, 'broker', 'issue', 'east', '--namespace', 'my-namespace', '--topic-acl', 'sensors/#')) [0] as [string, string]
  assert.deepEqual(claims(limited[1]).acl, { publish: ['sensors/#'], subscribe: ['sensors/#'] })

  await t.test('mqtt.js (the seed example) and Mosquitto 3.1.1 / 5 on different pods exchange messages in one broker', async () => {
    // The seed's options plus `username: ''` (README: mqtt.js' limits), on pod B; no client id of its own.
    const { client: seed, connack } = await connectWithAck(t, b.url, { protocolVersion: 5, username: '', password: e1 })
    assert.equal(connack.properties?.assignedClientIdentifier, e1Id)
    const seedGot = collect(seed)
    await seed.subscribeAsync('example-topic', { qos: 1 })
    // Mosquitto 3.1.1 on pod A: it must send the token's client id (-i).
    const sub311 = mosquittoSub(t, [...brokerArgs(a.mqttPort, 'mqttv311'), '-u', 'any', '-P', e2, '-i', e2Id, '-t', 'example-topic', '-q', '1', '-d', '-v'])
    assert.deepEqual(await sub311.granted, [1])
    // Mosquitto 5 on pod A publishes with the limited token, inside its grant and outside it.
    const pub5 = await mosquittoPub([...brokerArgs(a.mqttPort, 'mqttv5'), '-u', 'any', '-P', limited[1], '-t', 'sensors/t1', '-m', 'in-grant', '-q', '1'])
    assert.equal(pub5.code, 0, pub5.stderr)
    await seed.subscribeAsync('sensors/#', { qos: 1 })
    await mosquittoPub([...brokerArgs(a.mqttPort, 'mqttv5'), '-u', 'any', '-P', limited[1], '-t', 'example-topic', '-m', 'outside-grant', '-q', '1'])
    await mosquittoPub([...brokerArgs(a.mqttPort, 'mqttv5'), '-u', 'any', '-P', limited[1], '-t', 'sensors/t2', '-m', 'in-grant-2', '-q', '1'])
    await seed.publishAsync('example-topic', 'hello from mqtt.js', { qos: 1 })
    await waitFor(() => sub311.messages().length === 1, 5000, 'mosquitto_sub 3.1.1 on pod A got the message from pod B')
    await waitFor(() => payloads(seedGot, 'sensors/t2').length === 1, 5000, 'the limited token\'s publish on pod B')
    await sleep(300)
    assert.deepEqual(sub311.messages(), ['example-topic hello from mqtt.js'], 'the publish outside the token\'s ACL reached nobody')
    assert.deepEqual(payloads(seedGot, 'example-topic'), ['hello from mqtt.js'])
    // A 3.1.1 client with another client id than its token's is refused (identifier rejected).
    const wrongId = await mosquittoPub([...brokerArgs(b.mqttPort, 'mqttv311'), '-u', 'any', '-P', e2, '-i', 'someone-else', '-t', 'x', '-m', 'x'])
    assert.notEqual(wrongId.code, 0)
    await stopClient(seed)
  })

  await t.test('two brokers, two pods: ordinary, retained, will, shared and $SYS messages stay in their broker', async () => {
    const [eSubId, eSub] = [e1Id, e1]
    const [wSubId, wSub] = [w1Id, w1]
    const open = async (pod: Pod, token: string, extra: IClientOptions = {}): Promise<MqttClient> =>
      await connectClient(t, pod.url, { protocolVersion: 5, username: '', password: token, ...extra })
    const [[eShId, eSh], [ePubId, ePub], [eWillId, eWill], [eSysId, eSys]] = Object.entries(await cli(apiA, 'broker', 'issue', 'east', '--namespace', 'my-namespace', '--number', '4')) as Array<[string, string]> as [[string, string], [string, string], [string, string], [string, string]]
    const [[wShId, wSh], [wPubId, wPub], [wWillId, wWill], [wSysId, wSys]] = Object.entries(await cli(apiA, 'broker', 'issue', 'west', '--namespace', 'my-namespace', '--number', '4')) as Array<[string, string]> as [[string, string], [string, string], [string, string], [string, string]]

    // Retained first, published on pod A; subscribers on pod B.
    const pubE = await open(a, ePub)
    const pubW = await open(a, wPub)
    await pubE.publishAsync('state/door', 'east-retained', { qos: 1, retain: true })
    await pubW.publishAsync('state/door', 'west-retained', { qos: 1, retain: true })
    const subE = await open(b, eSub)
    const subW = await open(b, wSub)
    const gotE = collect(subE)
    const gotW = collect(subW)
    await subE.subscribeAsync({ '#': { qos: 1 } })
    await subW.subscribeAsync({ '#': { qos: 1 } })
    const sysE = await open(b, eSys)
    const sysW = await open(a, wSys)
    const gotSysE = collect(sysE)
    const gotSysW = collect(sysW)
    await sysE.subscribeAsync('$SYS/#', { qos: 0 })
    await sysW.subscribeAsync('$SYS/#', { qos: 0 })
    // One shared group `g` per broker, a member on each pod.
    const shE = await open(a, eSh)
    const shW = await open(b, wSh)
    const gotShE = collect(shE)
    const gotShW = collect(shW)
    await shE.subscribeAsync('$share/g/jobs/#', { qos: 1 })
    await shW.subscribeAsync('$share/g/jobs/#', { qos: 1 })
    await waitFor(() => payloads(gotE, 'state/door').length === 1 && payloads(gotW, 'state/door').length === 1, 5000, 'retained messages')

    await pubE.publishAsync('t/1', 'east-live', { qos: 1 })
    await pubW.publishAsync('t/1', 'west-live', { qos: 1 })
    for (let i = 0; i < 3; i++) {
      await pubE.publishAsync('jobs/x', `east-job-${i}`, { qos: 1 })
      await pubW.publishAsync('jobs/x', `west-job-${i}`, { qos: 1 })
    }
    // Wills of the same topic in both brokers, from pod A, dropped without DISCONNECT.
    const willE = await open(a, eWill, { will: { topic: 'will/dev', payload: Buffer.from('east-gone'), qos: 1, retain: false } })
    const willW = await open(a, wWill, { will: { topic: 'will/dev', payload: Buffer.from('west-gone'), qos: 1, retain: false } })
    await willE.subscribeAsync('own/east-only')
    willE.stream.destroy()
    willW.stream.destroy()

    await waitFor(() => payloads(gotE, 'will/dev').length === 1 && payloads(gotW, 'will/dev').length === 1, 5000, 'wills on the other pod')
    await waitFor(() => gotShE.length === 3 && gotShW.length === 3, 5000, 'shared-group messages')
    await waitFor(() => gotSysE.some((m) => m.topic.endsWith('/new/clients') && m.payload.toString() === eWillId), 5000, 'east $SYS: its own client from the other pod')
    await waitFor(() => gotSysW.some((m) => m.topic.endsWith('/new/clients') && m.payload.toString() === wWillId), 5000, 'west $SYS: its own client')
    await sleep(300)

    assert.deepEqual(payloads(gotE, 'state/door'), ['east-retained'])
    assert.deepEqual(payloads(gotW, 'state/door'), ['west-retained'])
    assert.deepEqual(payloads(gotE, 't/1'), ['east-live'])
    assert.deepEqual(payloads(gotW, 't/1'), ['west-live'])
    assert.deepEqual(payloads(gotE, 'will/dev'), ['east-gone'])
    assert.deepEqual(payloads(gotW, 'will/dev'), ['west-gone'])
    assert.deepEqual(payloads(gotShE).sort(), ['east-job-0', 'east-job-1', 'east-job-2'])
    assert.deepEqual(payloads(gotShW).sort(), ['west-job-0', 'west-job-1', 'west-job-2'])
    // $SYS: each broker sees its own client ids and subscriptions, never the other's.
    const sysTextE = gotSysE.map((m) => m.payload.toString()).join('\n')
    const sysTextW = gotSysW.map((m) => m.payload.toString()).join('\n')
    assert.ok(sysTextE.includes('own/east-only'), 'east sees its own client\'s subscription')
    for (const id of [wWillId, wSysId, wShId, wPubId, wSubId]) assert.ok(!sysTextE.includes(id), `east's $SYS does not name west's ${id}`)
    for (const id of [eWillId, eSysId, eShId, ePubId, eSubId]) assert.ok(!sysTextW.includes(id), `west's $SYS does not name east's ${id}`)
    assert.ok(!sysTextW.includes('own/east-only'))
    for (const m of [...gotE, ...gotW, ...gotSysE, ...gotSysW, ...gotShE, ...gotShW]) {
      assert.ok(!m.topic.includes('$t/') && !m.payload.toString().includes('$t/'), `no mount shows: ${m.topic}`)
    }
    for (const c of [pubE, pubW, subE, subW, sysE, sysW, shE, shW]) await stopClient(c)
  })

  await t.test('revoke through the CLI: the live client on the other pod is cut off within a second (0x98) and cannot reconnect', async () => {
    const [[victimId, victim], [keptId, kept]] = Object.entries(await cli(apiA, 'broker', 'issue', 'east', '--namespace', 'my-namespace', '--number', '2', '--expiration', '48h')) as Array<[string, string]> as [[string, string], [string, string], [string, string], [string, string]]
    const live = await connectClient(t, b.url, { protocolVersion: 5, username: '', password: victim })
    const bystander = await connectClient(t, b.url, { protocolVersion: 5, username: '', password: kept })
    const ended = serverDisconnect(live)
    const started = Date.now()
    assert.deepEqual(await cli(apiA, 'broker', 'revoke', 'east', '--namespace', 'my-namespace', '--jti', claims(victim).jti), [{ jti: claims(victim).jti }])
    const cut = await ended
    // The CLI process itself takes part of the second; the pod's own part is what counts, so
    // measure from the moment the revocation was sent.
    assert.equal(cut.code, 0x98, `client ${victimId} ended with DISCONNECT 0x98`)
    assert.ok(cut.at - started < 1000 + 2000, `cut off ${cut.at - started} ms after the CLI started`)
    assert.ok(bystander.connected, `${keptId} (another token) stays connected`)
    assert.equal(await refusedCode(b.url, { protocolVersion: 5, username: '', password: victim }), 0x87)
    assert.equal(await refusedCode(a.url, { protocolVersion: 5, username: '', password: victim }), 0x87)
    assert.deepEqual((await cli(apiB, 'broker', 'revocations', 'east', '--namespace', 'my-namespace')).map((r: any) => r.jti), [claims(victim).jti])
    await stopClient(bystander)
  })

  await t.test('revocation reaches the other pod within one second of the API call', async () => {
    const [[, victim]] = Object.entries(await cli(apiA, 'broker', 'issue', 'west', '--namespace', 'my-namespace')) as Array<[string, string]> as [[string, string], [string, string], [string, string], [string, string]]
    const live = await connectClient(t, b.url, { protocolVersion: 5, username: '', password: victim })
    const ended = serverDisconnect(live)
    // The API call itself (what the CLI sends), timed from its answer on pod A to the cut on pod B.
    const res = await fetch(`${apiA}/v1/namespaces/my-namespace/brokers/west/revocations?jti=${claims(victim).jti}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    const answered = Date.now()
    assert.equal(res.status, 200)
    const cut = await ended
    assert.equal(cut.code, 0x98)
    assert.ok(cut.at - answered < 1000, `pod B cut its client off ${cut.at - answered} ms after pod A answered`)
  })

  await t.test('key rotation through the CLI: old tokens connect until retire-key; public-keys verifies tokens with jose', async () => {
    const before = await cli(apiB, 'broker', 'public-keys', 'west', '--namespace', 'my-namespace')
    assert.equal(before.keys.length, 1)
    const oldKid = before.keys[0].kid as string
    assert.equal(decodeProtectedHeader(w2).kid, oldKid)
    // jose verifies an issued token against the JWKS the CLI printed.
    const { payload } = await jwtVerify(w2, createLocalJWKSet(before), { issuer: 'starling', audience: 'west.my-namespace' })
    assert.equal(payload.sub, w2Id)
    await assert.rejects(jwtVerify(e1, createLocalJWKSet(before)), 'another broker\'s token does not verify with this JWKS')

    const { kid: newKid } = await cli(apiA, 'broker', 'rotate-key', 'west', '--namespace', 'my-namespace')
    const [[freshId, fresh]] = Object.entries(await cli(apiB, 'broker', 'issue', 'west', '--namespace', 'my-namespace')) as Array<[string, string]> as [[string, string], [string, string], [string, string], [string, string]]
    assert.equal(decodeProtectedHeader(fresh).kid, newKid)
    const after = await cli(apiA, 'broker', 'public-keys', 'west', '--namespace', 'my-namespace')
    assert.deepEqual(after.keys.map((k: any) => k.kid), [oldKid, newKid])
    assert.equal((await jwtVerify(fresh, createLocalJWKSet(after))).payload.sub, freshId)
    // Both keys verify, on both pods.
    for (const pod of [a, b]) {
      await stopClient(await connectClient(t, pod.url, { protocolVersion: 5, username: '', password: w2 }))
      await stopClient(await connectClient(t, pod.url, { protocolVersion: 5, username: '', password: fresh }))
    }
    assert.deepEqual(await cli(apiB, 'broker', 'retire-key', 'west', '--namespace', 'my-namespace', '--kid', oldKid), { retired: oldKid })
    // Pods learn of it through the change notification (within a second).
    let code: number | undefined
    const deadline = Date.now() + 3000
    do { code = await refusedCode(a.url, { protocolVersion: 5, username: '', password: w2 }).catch(() => undefined) } while (code !== 0x86 && Date.now() < deadline)
    assert.equal(code, 0x86, 'a token of the retired key is refused on pod A')
    assert.equal(await refusedCode(b.url, { protocolVersion: 5, username: '', password: w2 }), 0x86)
    await stopClient(await connectClient(t, a.url, { protocolVersion: 5, username: '', password: fresh }))
  })

  // West's first tokens were signed by the retired key: new ones for the steps below.
  const [[w3Id, w3]] = Object.entries(await cli(apiA, 'broker', 'issue', 'west', '--namespace', 'my-namespace')) as Array<[string, string]> as [[string, string]]

  await t.test('usage through the CLI shows the broker\'s connections and messages', async () => {
    const holder = await connectClient(t, a.url, { protocolVersion: 5, username: '', password: w3 })
    await holder.publishAsync('usage/t', 'x', { qos: 1 })
    let usage: any
    const deadline = Date.now() + 5000
    do {
      await sleep(150)
      usage = await cli(apiB, 'broker', 'usage', 'west', '--namespace', 'my-namespace')
    } while ((usage.connections < 1 || usage.messagesIn < 1) && Date.now() < deadline)
    assert.ok(usage.connections >= 1, JSON.stringify(usage))
    assert.ok(usage.messagesIn >= 1 && usage.bytesIn >= 1, JSON.stringify(usage))
    // East had traffic on both pods in the steps above.
    const east = await cli(apiA, 'broker', 'usage', 'east', '--namespace', 'my-namespace')
    assert.ok(east.messagesIn >= 5 && east.messagesOut >= 5, JSON.stringify(east))
    await stopClient(holder)
  })

  await t.test('WebSocket Host `<broker>.<namespace>.<domain>` selects the broker: its own token connects, another broker\'s is refused', async () => {
    const url = `ws://127.0.0.1:${wsPort(b)}/mqtt`
    const host = (broker: string): IClientOptions => ({ wsOptions: { headers: { Host: `${broker}.my-namespace.${DOMAIN}:${wsPort(b)}` } } })
    const own = await connectWithAck(t, url, { protocolVersion: 5, username: '', password: w3, ...host('west') })
    assert.equal(own.connack.properties?.assignedClientIdentifier, w3Id)
    await stopClient(own.client)
    assert.equal(await refusedCode(url, { protocolVersion: 5, username: '', password: e1, ...host('west') }), 0x87)
    assert.equal(await refusedCode(url, { protocolVersion: 4, clientId: e1Id, username: 'any', password: e1, ...host('west') }), 5)
    // Any other Host (an IP address) goes by the token's own broker.
    await stopClient(await connectClient(t, url, { protocolVersion: 5, username: '', password: e1 }))
  })

  await t.test('API errors over the real pods: 400 naming the field, 404, 409, 401/403', async () => {
    const call = async (base: string, method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN): Promise<{ status: number, json: any }> => {
      const res = await fetch(`${base}/v1${path}`, {
        method,
        headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {})
      })
      return { status: res.status, json: await res.json() }
    }
    const expect = async (r: Promise<{ status: number, json: any }>, status: number, code: string, field?: string): Promise<void> => {
      const { status: got, json } = await r
      assert.equal(got, status, JSON.stringify(json))
      assert.equal(json.success, false)
      assert.equal(json.errors[0].code, code)
      if (field !== undefined) assert.equal(json.errors[0].field, field)
    }
    await expect(call(apiA, 'POST', '/namespaces', { name: 'Not_A_Label' }), 400, 'STARLING_ERR_API_INVALID', 'body.name')
    await expect(call(apiB, 'POST', '/namespaces/my-namespace/brokers', { name: 'x', authType: 'PASSWORD' }), 400, 'STARLING_ERR_API_INVALID', 'body.authType')
    await expect(call(apiA, 'POST', '/namespaces/my-namespace/brokers/east/credentials?number=101'), 400, 'STARLING_ERR_API_INVALID', 'query.number')
    await expect(call(apiB, 'GET', '/namespaces/nowhere'), 404, 'STARLING_ERR_TENANCY_NOT_FOUND')
    await expect(call(apiA, 'GET', '/namespaces/my-namespace/brokers/north'), 404, 'STARLING_ERR_TENANCY_NOT_FOUND')
    // Duplicates across pods: created on A, refused on B (one store in Redis).
    await expect(call(apiB, 'POST', '/namespaces', { name: 'my-namespace' }), 409, 'STARLING_ERR_TENANCY_EXISTS')
    await expect(call(apiB, 'POST', '/namespaces/my-namespace/brokers', { name: 'east' }), 409, 'STARLING_ERR_TENANCY_EXISTS')
    await expect(call(apiA, 'DELETE', '/namespaces/my-namespace'), 409, 'STARLING_ERR_TENANCY_NOT_EMPTY')
    await expect(call(apiA, 'GET', '/namespaces', undefined, null), 401, 'STARLING_ERR_API_UNAUTHORIZED')
    await expect(call(apiB, 'GET', '/namespaces', undefined, 'not-the-admin-token-at-all'), 403, 'STARLING_ERR_API_FORBIDDEN')
    // The CLI prints the same as one line.
    const refused = await pubsub(apiB, ['broker', 'create', 'east', '--namespace', 'my-namespace'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^starling: STARLING_ERR_TENANCY_EXISTS: /)
  })

  assert.ok(![a.stdout(), b.stdout(), a.stderr(), b.stderr()].some((log) => log.includes(e1) || log.includes(w1) || log.includes(ADMIN_TOKEN)), 'no token in the pods\' logs')
})
