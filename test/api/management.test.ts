import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { apiRoutes } from '../../src/api/management.js'
import { ADMIN_TOKEN, startTestApi } from '../helpers/api.js'

// The management API over real HTTP on a loopback port: every route, admin-token auth, validation
// naming the field, 404/409, the Cloudflare-style envelope and the OpenAPI document.

const BROKER = '/v1/namespaces/my-namespace/brokers/example-broker'
/** Names of listed records, leaving out the `default` namespace a real store creates at start. */
const names = (records: Array<{ name: string }>): string[] => records.map((r) => r.name).filter((n) => n !== 'default')

test('operator flow: namespace, broker, credentials, revocations, keys, usage, deletion', async (t) => {
  const api = await startTestApi(t)

  const ns = await api.call('POST', '/v1/namespaces', { body: { name: 'My-Namespace', description: 'staging' } })
  assert.equal(ns.status, 200)
  assert.deepEqual([ns.json.success, ns.json.errors, ns.json.messages], [true, [], []])
  assert.deepEqual([ns.json.result.name, ns.json.result.description], ['my-namespace', 'staging'], 'names are stored in lower case')
  assert.match(ns.json.result.created_on, /^\d{4}-\d\d-\d\dT/)

  assert.deepEqual(names((await api.call('GET', '/v1/namespaces')).json.result), ['my-namespace'])
  assert.equal((await api.call('GET', '/v1/namespaces/my-namespace')).json.result.id, ns.json.result.id)
  assert.equal((await api.call('PATCH', '/v1/namespaces/my-namespace', { body: { description: 'prod' } })).json.result.description, 'prod')

  const broker = await api.call('POST', '/v1/namespaces/my-namespace/brokers', { body: { name: 'example-broker', quotas: { maxConnections: 10 } } })
  assert.equal(broker.status, 200)
  assert.equal(broker.json.result.authType, 'TOKEN')
  assert.equal(broker.json.result.quotas.maxConnections, 10)
  assert.match(broker.json.result.endpoint, /^mqtts:\/\/example-broker\.my-namespace\./)
  assert.deepEqual((await api.call('GET', '/v1/namespaces/my-namespace/brokers')).json.result.map((b: any) => b.name), ['example-broker'])
  assert.equal((await api.call('GET', BROKER)).json.result.id, broker.json.result.id)
  const patched = await api.call('PATCH', BROKER, { body: { tokenExpiryAction: 'keep', quotas: { maxRetained: 5 } } })
  assert.deepEqual([patched.json.result.tokenExpiryAction, patched.json.result.quotas.maxRetained], ['keep', 5])

  // Credentials: the seed's query string (number, type, topicAcl, expiration as 48h).
  const issued = await api.call('POST', `${BROKER}/credentials?number=2&type=TOKEN&topicAcl=%23&expiration=48h`)
  assert.equal(issued.status, 200)
  const entries = Object.entries(issued.json.result as Record<string, string>)
  assert.equal(entries.length, 2)
  for (const [, token] of entries) assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const chosen = await api.call('GET', `${BROKER}/credentials?clientId=device-7&publishAcl=a/%2B&subscribeAcl=b/%23&expiration=3600`)
  assert.deepEqual(Object.keys(chosen.json.result), ['device-7'], 'GET works too, as in Cloudflare\'s curl example')

  // Revocations: query (?jti=a&jti=b) and JSON body; listing; unrevoke.
  const revoked = await api.call('POST', `${BROKER}/revocations?jti=a&jti=b`)
  assert.deepEqual(revoked.json.result, [{ jti: 'a' }, { jti: 'b' }])
  await api.call('POST', `${BROKER}/revocations`, { body: { jti: 'c' } })
  assert.deepEqual((await api.call('GET', `${BROKER}/revocations`)).json.result.map((r: any) => r.jti), ['a', 'b', 'c'])
  await api.call('DELETE', `${BROKER}/revocations`, { body: { jti: ['a', 'c'] } })
  assert.deepEqual((await api.call('GET', `${BROKER}/revocations`)).json.result.map((r: any) => r.jti), ['b'])

  // Keys: JWKS, rotation, retirement.
  const jwks = (await api.call('GET', `${BROKER}/publickeys`)).json.result
  assert.equal(jwks.keys.length, 1)
  assert.deepEqual([jwks.keys[0].kty, jwks.keys[0].crv, jwks.keys[0].alg], ['OKP', 'Ed25519', 'EdDSA'])
  const rotated = await api.call('POST', `${BROKER}/keys`)
  assert.equal(typeof rotated.json.result.kid, 'string')
  assert.equal((await api.call('GET', `${BROKER}/publickeys`)).json.result.keys.length, 2)
  assert.equal((await api.call('DELETE', `${BROKER}/keys/${encodeURIComponent(jwks.keys[0].kid)}`)).status, 200)
  assert.deepEqual((await api.call('GET', `${BROKER}/publickeys`)).json.result.keys.map((k: any) => k.kid), [rotated.json.result.kid])

  const usage = await api.call('GET', `${BROKER}/usage?since=2026-01-01T00:00:00Z`)
  assert.deepEqual(usage.json.result, { connections: 3, since: '2026-01-01T00:00:00.000Z', messagesIn: 10, messagesOut: 20, bytesIn: 100, bytesOut: 200 })

  // Deletion: a namespace with brokers is refused (409), then both go.
  const notEmpty = await api.call('DELETE', '/v1/namespaces/my-namespace')
  assert.deepEqual([notEmpty.status, notEmpty.json.errors[0].code], [409, 'STARLING_ERR_TENANCY_NOT_EMPTY'])
  assert.deepEqual((await api.call('DELETE', BROKER)).json, { result: null, success: true, errors: [], messages: [] })
  assert.equal((await api.call('DELETE', '/v1/namespaces/my-namespace')).status, 200)
  assert.deepEqual(names((await api.call('GET', '/v1/namespaces')).json.result), [])
})

test('admin token: 401 with WWW-Authenticate without one, 403 with a wrong one; /healthz, /readyz, /openapi.json open; /cluster guarded', async (t) => {
  const api = await startTestApi(t)
  const none = await api.call('GET', '/v1/namespaces', { token: null })
  assert.equal(none.status, 401)
  assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="starling"')
  assert.equal(none.json.errors[0].code, 'STARLING_ERR_API_UNAUTHORIZED')
  const wrong = await api.call('GET', '/v1/namespaces', { token: `${ADMIN_TOKEN}x` })
  assert.deepEqual([wrong.status, wrong.json.errors[0].code], [403, 'STARLING_ERR_API_FORBIDDEN'])
  const basic = await fetch(`${api.url}/v1/namespaces`, { headers: { authorization: `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}` } })
  assert.equal(basic.status, 401, 'only the Bearer scheme counts')
  // Unknown routes under /v1 are 404 for an admin, but reveal nothing without the token.
  assert.equal((await api.call('GET', '/v1/nope', { token: null })).status, 401)
  const unknown = await api.call('GET', '/v1/nope')
  assert.deepEqual([unknown.status, unknown.json.errors[0].code], [404, 'STARLING_ERR_API_NOT_FOUND'])

  assert.equal((await api.call('GET', '/cluster', { token: null })).status, 401)
  assert.equal((await api.call('GET', '/cluster', { token: 'some-other-token-value' })).status, 403)
  assert.deepEqual((await api.call('GET', '/cluster')).json, { pods: [] })
  for (const path of ['/healthz', '/readyz', '/openapi.json', '/metrics']) {
    assert.equal((await fetch(api.url + path)).status, 200, `${path} is open`)
  }
})

test('several admin tokens all work', async (t) => {
  const api = await startTestApi(t, { adminTokens: [ADMIN_TOKEN, 'second-admin-token-abcdefgh'] })
  assert.equal((await api.call('GET', '/v1/namespaces', { token: 'second-admin-token-abcdefgh' })).status, 200)
  assert.equal((await api.call('GET', '/v1/namespaces')).status, 200)
})

test('no admin token configured: the API and /cluster refuse everything (never open) and the start logs why', async (t) => {
  const api = await startTestApi(t, { adminTokens: [] })
  for (const token of [null, ADMIN_TOKEN, '']) {
    const res = await api.call('GET', '/v1/namespaces', { token })
    assert.deepEqual([res.status, res.json.errors[0].code], [403, 'STARLING_ERR_API_DISABLED'])
    assert.match(res.json.errors[0].message, /no admin token is configured \(set STARLING_ADMIN_TOKEN/)
  }
  assert.equal((await api.call('POST', '/v1/namespaces', { body: { name: 'x' } })).status, 403)
  assert.equal((await api.call('GET', '/cluster')).status, 403)
  assert.ok(api.logs.find(/management API and \/cluster disabled: no admin token configured/))
})

test('a pod without tenancy stores answers /v1 with STARLING_ERR_API_DISABLED', async (t) => {
  const api = await startTestApi(t, { management: false })
  const res = await api.call('GET', '/v1/namespaces')
  assert.deepEqual([res.status, res.json.errors[0].code], [403, 'STARLING_ERR_API_DISABLED'])
})

test('metrics.bearerToken: /metrics needs it (401 without, 403 wrong)', async (t) => {
  const api = await startTestApi(t, { metricsBearerToken: 'scrape-token-123' })
  const none = await fetch(`${api.url}/metrics`)
  assert.deepEqual([none.status, none.headers.get('www-authenticate')], [401, 'Bearer realm="metrics"'])
  assert.equal((await fetch(`${api.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status, 403)
  const ok = await fetch(`${api.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-123' } })
  assert.equal(ok.status, 200)
  assert.match(await ok.text(), /^# HELP /m)
})

test('bad input: 400 naming the field; unknown: 404; duplicate: 409', async (t) => {
  const api = await startTestApi(t)
  const invalid = async (method: string, path: string, body: unknown, field: string, message: RegExp): Promise<void> => {
    const res = await api.call(method, path, body === undefined ? {} : { body })
    assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.json)}`)
    assert.equal(res.json.success, false)
    assert.deepEqual([res.json.errors[0].code, res.json.errors[0].field], ['STARLING_ERR_API_INVALID', field])
    assert.match(res.json.errors[0].message, message)
  }
  await invalid('POST', '/v1/namespaces', { name: '1abc' }, 'body.name', /^body\.name: an RFC 1035 label/)
  await invalid('POST', '/v1/namespaces', { name: 'a'.repeat(64) }, 'body.name', /RFC 1035/)
  await invalid('POST', '/v1/namespaces', {}, 'body.name', /^body\.name: /)
  await invalid('POST', '/v1/namespaces', { name: 'ok', colour: 'red' }, 'body.colour', /unknown field/)
  await invalid('GET', '/v1/namespaces/under_score', undefined, 'ns', /^ns: an RFC 1035 label/)
  const bad = await fetch(`${api.url}/v1/namespaces`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"name":' })
  assert.deepEqual([bad.status, ((await bad.json()) as any).errors[0].code], [400, 'STARLING_ERR_API_INVALID'])

  await api.call('POST', '/v1/namespaces', { body: { name: 'ns' } })
  const dup = await api.call('POST', '/v1/namespaces', { body: { name: 'NS' } })
  assert.deepEqual([dup.status, dup.json.errors[0].code], [409, 'STARLING_ERR_TENANCY_EXISTS'])
  await invalid('POST', '/v1/namespaces/ns/brokers', { name: 'b', authType: 'PASSWORD' }, 'body.authType', /TOKEN/)
  await invalid('POST', '/v1/namespaces/ns/brokers', { name: 'b', authType: 'JWKS' }, 'body.jwks', /required with authType JWKS/)
  await invalid('POST', '/v1/namespaces/ns/brokers', { name: 'b', quotas: { maxConnections: -1 } }, 'body.quotas.maxConnections', /./)
  await invalid('PATCH', '/v1/namespaces/ns/brokers/b', { name: 'renamed' }, 'body.name', /unknown field/)
  assert.equal((await api.call('POST', '/v1/namespaces/ns/brokers', { body: { name: 'b' } })).status, 200)
  assert.equal((await api.call('POST', '/v1/namespaces/ns/brokers', { body: { name: 'b' } })).status, 409)

  const b = '/v1/namespaces/ns/brokers/b'
  await invalid('POST', `${b}/credentials?number=101`, undefined, 'query.number', /1 to 100/)
  await invalid('POST', `${b}/credentials?number=0`, undefined, 'query.number', /1 to 100/)
  await invalid('POST', `${b}/credentials?number=two`, undefined, 'query.number', /1 to 100/)
  await invalid('POST', `${b}/credentials?expiration=soon`, undefined, 'query.expiration', /duration/)
  await invalid('POST', `${b}/credentials?type=PASSWORD`, undefined, 'query.type', /TOKEN/)
  await invalid('POST', `${b}/credentials?number=2&clientId=x`, undefined, 'query.clientId', /only with number=1/)
  await invalid('POST', `${b}/credentials?numbr=2`, undefined, 'query.numbr', /unknown field/)
  await invalid('POST', `${b}/credentials?topicAcl=a/%23/b`, undefined, 'query.topicAcl', /valid MQTT topic filter/)
  await invalid('POST', `${b}/credentials?topicAcl=ok/%2B&publishAcl=x%2By`, undefined, 'query.publishAcl', /valid MQTT topic filter/)
  await invalid('POST', `${b}/revocations`, undefined, 'query.jti', /at least one/)
  await invalid('GET', `${b}/usage?since=yesterday`, undefined, 'query.since', /./)
  assert.equal((await api.call('POST', `${b}/credentials?number=100`)).status, 200, '100 is allowed')

  const notFound = async (method: string, path: string): Promise<void> => {
    const res = await api.call(method, path)
    assert.deepEqual([res.status, res.json.errors[0].code], [404, 'STARLING_ERR_TENANCY_NOT_FOUND'], `${method} ${path}`)
  }
  await notFound('GET', '/v1/namespaces/ghost')
  await notFound('DELETE', '/v1/namespaces/ghost')
  await notFound('GET', '/v1/namespaces/ghost/brokers')
  await notFound('GET', '/v1/namespaces/ns/brokers/ghost')
  await notFound('POST', '/v1/namespaces/ns/brokers/ghost/credentials')
  await notFound('GET', '/v1/namespaces/ns/brokers/ghost/publickeys')
  await notFound('DELETE', `${b}/keys/no-such-kid`)
})

const claimsOf = (token: string): any => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())

test('credentials: client id, expiry and count reach the token; non-TOKEN brokers issue none', async (t) => {
  const api = await startTestApi(t)
  await api.call('POST', '/v1/namespaces', { body: { name: 'ns' } })
  await api.call('POST', '/v1/namespaces/ns/brokers', { body: { name: 'tok' } })
  const one = (await api.call('POST', '/v1/namespaces/ns/brokers/tok/credentials?clientId=sensor-1&expiration=48h')).json.result
  assert.deepEqual(Object.keys(one), ['sensor-1'])
  const claims = claimsOf(one['sensor-1'])
  assert.deepEqual([claims.sub, claims.exp - claims.iat], ['sensor-1', 48 * 3600])
  const forever = (await api.call('POST', '/v1/namespaces/ns/brokers/tok/credentials?number=3')).json.result
  assert.equal(Object.keys(forever).length, 3)
  for (const [clientId, token] of Object.entries(forever)) {
    assert.deepEqual([claimsOf(token as string).sub, claimsOf(token as string).exp], [clientId, undefined], 'no expiration: no exp')
  }
  await api.call('POST', '/v1/namespaces/ns/brokers', { body: { name: 'open', authType: 'NONE' } })
  const res = await api.call('POST', '/v1/namespaces/ns/brokers/open/credentials')
  assert.deepEqual([res.status, res.json.errors[0].field], [400, 'broker'])
  assert.match(res.json.errors[0].message, /authType is NONE/)
})

test('/openapi.json: OpenAPI 3.1 with every route, its parameters and request schemas', async (t) => {
  const api = await startTestApi(t)
  const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as any
  assert.equal(doc.openapi, '3.1.0')
  assert.deepEqual(doc.components.securitySchemes.adminToken, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.adminToken.description })
  const operations = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
  assert.deepEqual(operations.sort(), apiRoutes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`).sort())
  for (const expected of ['POST /v1/namespaces', 'GET /v1/namespaces/{ns}/brokers/{broker}/publickeys', 'DELETE /v1/namespaces/{ns}/brokers/{broker}/keys/{kid}', 'GET /v1/namespaces/{ns}/brokers/{broker}/usage', 'DELETE /v1/namespaces/{ns}/brokers/{broker}/revocations']) {
    assert.ok(operations.includes(expected), expected)
  }
  const create = doc.paths['/v1/namespaces'].post
  assert.equal(create.requestBody.content['application/json'].schema.properties.name.type, 'string')
  assert.ok(create.requestBody.content['application/json'].schema.properties.name.pattern)
  assert.deepEqual(create.requestBody.content['application/json'].schema.required, ['name'])
  const credentials = doc.paths['/v1/namespaces/{ns}/brokers/{broker}/credentials'].post
  assert.deepEqual(credentials.parameters.map((p: any) => `${p.in}:${p.name}`), ['path:ns', 'path:broker', 'query:number', 'query:type', 'query:expiration', 'query:clientId', 'query:topicAcl', 'query:publishAcl', 'query:subscribeAcl'])
  assert.equal(credentials.responses['200'].content['application/json'].schema.properties.result.type, 'object')
  const broker = doc.paths['/v1/namespaces/{ns}/brokers/{broker}'].get.responses['200'].content['application/json'].schema.properties.result
  assert.deepEqual(broker.properties.authType.enum, ['TOKEN', 'JWKS', 'NONE'])
  for (const ops of Object.values(doc.paths as Record<string, Record<string, any>>)) {
    for (const op of Object.values(ops)) {
      assert.ok(op.operationId && op.summary && op.responses['200'] && op.responses['401'] && op.responses['403'], op.operationId)
    }
  }
  assert.ok(!JSON.stringify(doc).includes('$schema'), 'no per-schema dialect: jsonSchemaDialect covers it')
})

test('the seed\'s curl | jq command works as written (GET, Content-Type without a body, topicAcl=# dropped by curl as a fragment)', async (t) => {
  const api = await startTestApi(t)
  await api.call('POST', '/v1/namespaces', { body: { name: 'my-namespace' } })
  await api.call('POST', '/v1/namespaces/my-namespace/brokers', { body: { name: 'example-broker' } })
  const env = { PATH: process.env.PATH ?? '', STARLING_ADMIN_TOKEN: ADMIN_TOKEN, API: api.url, DEFAULT_NAMESPACE: 'my-namespace', BROKER_NAME: 'example-broker' }
  const script = 'curl -s -H "Authorization: Bearer ${STARLING_ADMIN_TOKEN}" -H "Content-Type: application/json" "${API}/v1/namespaces/${DEFAULT_NAMESPACE}/brokers/${BROKER_NAME}/credentials?number=2&type=TOKEN&topicAcl=#" | jq \'.result | to_entries | .[0].value\''
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('sh', ['-c', script], { env, timeout: 10000 }, (err, out, stderr) => { if (err !== null) reject(new Error(`${err.message}: ${stderr}`)); else resolve(out) })
  })
  assert.match(stdout.trim(), /^"[\w-]+\.[\w-]+\.[\w-]+"$/, 'jq prints one token')
})
