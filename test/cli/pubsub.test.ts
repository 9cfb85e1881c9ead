import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ADMIN_TOKEN, startTestApi } from '../helpers/api.js'

// `starling pubsub ...` as a real process against the management API served on a loopback port:
// the wrangler-like operator flow, JSON output, one-line errors. The CLI runs the compiled code in
// dist/: `npm test` builds first (or run `npm run build`).

const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))

interface Result { code: number, stdout: string, stderr: string }

function starling (args: readonly string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'pubsub', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

test('the operator flow through the CLI: namespace, broker, issue, revoke, public keys, delete', async (t) => {
  const api = await startTestApi(t)
  const env = { STARLING_API_URL: api.url, STARLING_ADMIN_TOKEN: ADMIN_TOKEN }
  const ok = async (...args: string[]): Promise<any> => {
    const r = await starling(args, env)
    assert.equal(r.code, 0, `starling pubsub ${args.join(' ')}: ${r.stderr}`)
    assert.equal(r.stderr, '')
    return JSON.parse(r.stdout)
  }

  const ns = await ok('namespace', 'create', 'my-namespace', '--description', 'demo')
  assert.deepEqual([ns.name, ns.description], ['my-namespace', 'demo'])
  // A real store also lists its `default` namespace.
  const names = (records: Array<{ name: string }>): string[] => records.map((r) => r.name).filter((n) => n !== 'default')
  assert.deepEqual(names(await ok('namespace', 'list')), ['my-namespace'])
  assert.equal((await ok('namespace', 'describe', 'my-namespace')).id, ns.id)

  // As the seed writes it: --namespace=NS.
  const broker = await ok('broker', 'create', 'example-broker', '--namespace=my-namespace', '--max-connections', '50')
  assert.deepEqual([broker.name, broker.authType, broker.quotas.maxConnections], ['example-broker', 'TOKEN', 50])
  const updated = await ok('broker', 'update', 'example-broker', '--namespace', 'my-namespace', '--token-expiry-action', 'keep', '--description', 'devices')
  assert.deepEqual([updated.tokenExpiryAction, updated.description], ['keep', 'devices'])
  assert.deepEqual((await ok('broker', 'list', '--namespace', 'my-namespace')).map((b: any) => b.name), ['example-broker'])
  assert.equal((await ok('broker', 'describe', 'example-broker', '--namespace', 'my-namespace')).id, broker.id)

  const tokens = await ok('broker', 'issue', 'example-broker', '--namespace=my-namespace', '--number=2', '--expiration=48h', '--topic-acl', '#')
  assert.equal(Object.keys(tokens).length, 2)
  for (const token of Object.values(tokens)) assert.match(token as string, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const mine = await ok('broker', 'issue', 'example-broker', '--namespace', 'my-namespace', '--client-id', 'sensor-1')
  assert.deepEqual(Object.keys(mine), ['sensor-1'])

  assert.deepEqual(await ok('broker', 'revoke', 'example-broker', '--namespace', 'my-namespace', '--jti', 'j1', '--jti', 'j2'), [{ jti: 'j1' }, { jti: 'j2' }])
  assert.deepEqual((await ok('broker', 'revocations', 'example-broker', '--namespace', 'my-namespace')).map((r: any) => r.jti), ['j1', 'j2'])
  await ok('broker', 'unrevoke', 'example-broker', '--namespace', 'my-namespace', '--jti', 'j1')
  assert.deepEqual((await ok('broker', 'revocations', 'example-broker', '--namespace', 'my-namespace')).map((r: any) => r.jti), ['j2'])

  const jwks = await ok('broker', 'public-keys', 'example-broker', '--namespace', 'my-namespace')
  assert.equal(jwks.keys[0].crv, 'Ed25519')
  const { kid } = await ok('broker', 'rotate-key', 'example-broker', '--namespace', 'my-namespace')
  assert.deepEqual(await ok('broker', 'retire-key', 'example-broker', '--namespace', 'my-namespace', '--kid', jwks.keys[0].kid), { retired: jwks.keys[0].kid })
  assert.deepEqual((await ok('broker', 'public-keys', 'example-broker', '--namespace', 'my-namespace')).keys.map((k: any) => k.kid), [kid])
  assert.equal((await ok('broker', 'usage', 'example-broker', '--namespace', 'my-namespace')).connections, 3)

  // Flags beat the environment.
  const viaFlags = await starling(['namespace', 'list', '--api-url', api.url, '--api-token', ADMIN_TOKEN], {})
  assert.equal(viaFlags.code, 0, viaFlags.stderr)

  const refused = await starling(['namespace', 'delete', 'my-namespace'], env)
  assert.equal(refused.code, 1)
  assert.equal(refused.stdout, '')
  assert.match(refused.stderr, /^starling: STARLING_ERR_TENANCY_NOT_EMPTY: .+\n$/)
  assert.deepEqual(await ok('broker', 'delete', 'example-broker', '--namespace', 'my-namespace'), { deleted: 'example-broker' })
  assert.deepEqual(await ok('namespace', 'delete', 'my-namespace'), { deleted: 'my-namespace' })
  assert.deepEqual(names(await ok('namespace', 'list')), [])
})

test('CLI errors: one line with the code, exit 1 for refusals and 2 for usage', async (t) => {
  const api = await startTestApi(t)
  const env = { STARLING_API_URL: api.url, STARLING_ADMIN_TOKEN: ADMIN_TOKEN }
  const oneLine = (r: Result, code: number, pattern: RegExp): void => {
    assert.equal(r.code, code, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr.split('\n')[0] ?? '', pattern)
  }
  const expectLine = (r: Result, code: number, pattern: RegExp): void => {
    oneLine(r, code, pattern)
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'exactly one line')
  }
  expectLine(await starling(['namespace', 'describe', 'ghost'], env), 1, /^starling: STARLING_ERR_TENANCY_NOT_FOUND: namespace "ghost" not found$/)
  expectLine(await starling(['namespace', 'create', 'Bad_Name'], env), 1, /^starling: STARLING_ERR_API_INVALID: body\.name: an RFC 1035 label/)
  expectLine(await starling(['broker', 'issue', 'b', '--namespace', 'ghost', '--number', '500'], env), 1, /^starling: STARLING_ERR_API_INVALID: query\.number: an integer from 1 to 100$/)
  expectLine(await starling(['namespace', 'list'], { ...env, STARLING_ADMIN_TOKEN: 'wrong-token-wrong-token' }), 1, /^starling: STARLING_ERR_API_FORBIDDEN: /)
  expectLine(await starling(['namespace', 'list', '--api-url', 'http://127.0.0.1:9'], env), 1, /^starling: STARLING_ERR_API_UNREACHABLE: cannot reach the management API at http:\/\/127\.0\.0\.1:9: /)
  assert.ok(!(await starling(['namespace', 'list'], { ...env, STARLING_ADMIN_TOKEN: 'wrong-token-wrong-token' })).stderr.includes('wrong-token'), 'the token is never printed')
  // Usage mistakes: exit 2, checked before any request.
  oneLine(await starling(['broker', 'create', 'b'], env), 2, /^starling: STARLING_ERR_CLI_USAGE: pubsub broker create: --namespace is required$/)
  oneLine(await starling(['namespace', 'list'], { STARLING_API_URL: api.url }), 2, /^starling: STARLING_ERR_CLI_USAGE: no admin token: set STARLING_ADMIN_TOKEN or pass --api-token$/)
  oneLine(await starling(['namespace', 'explode', 'x'], env), 2, /unknown namespace action "explode"/)
  oneLine(await starling(['broker', 'revoke', 'b', '--namespace', 'n'], env), 2, /--jti is required/)
  oneLine(await starling(['namespace', 'list', '--bogus'], env), 2, /STARLING_ERR_CLI_USAGE: Unknown option '--bogus'/)
  oneLine(await starling(['namespace', 'list', '--api-url', 'localhost:9090'], env), 2, /--api-url \/ STARLING_API_URL: "localhost:9090" is not an http\(s\) URL/)
})
