import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { BearerTokens, bearerOf, resolveAdminTokens } from '../../src/api/bearer.js'
import { parseDurationSeconds } from '../../src/api/duration.js'
import { loadConfig } from '../../src/config/load.js'
import { isStarlingError } from '../../src/errors.js'

const api = (over: Record<string, unknown> = {}): ReturnType<typeof loadConfig>['api'] => loadConfig({ overrides: over }).api

test('admin tokens come from STARLING_ADMIN_TOKEN, api.adminTokens and api.adminTokenFile (comments and blanks skipped)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'starling-admin-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'tokens')
  writeFileSync(file, '# operators\nfile-token-aaaaaaaaaaaa\n\n  file-token-bbbbbbbbbbbb  \n')
  const tokens = resolveAdminTokens(api({ 'api.adminTokens': ['config-token-cccccccc'], 'api.adminTokenFile': file }), { STARLING_ADMIN_TOKEN: 'env-token-dddddddddddd' })
  assert.deepEqual(tokens, ['env-token-dddddddddddd', 'config-token-cccccccc', 'file-token-aaaaaaaaaaaa', 'file-token-bbbbbbbbbbbb'])
  assert.deepEqual(resolveAdminTokens(api(), {}), [], 'none configured: none (the API is then disabled)')
  assert.deepEqual(resolveAdminTokens(api(), { STARLING_ADMIN_TOKEN: '  ' }), [])
})

test('a short admin token is refused naming its source, never its value; an unreadable file too', () => {
  assert.throws(() => resolveAdminTokens(api(), { STARLING_ADMIN_TOKEN: 'short-secret' }), (err) => {
    assert.ok(isStarlingError(err, 'STARLING_ERR_CONFIG_INVALID'))
    assert.match(err.message, /shorter than 16 characters \(env STARLING_ADMIN_TOKEN\)/)
    assert.ok(!err.message.includes('short-secret'))
    return true
  })
  assert.throws(() => loadConfig({ overrides: { 'api.adminTokens': ['tiny'] } }), /api\.adminTokens/)
  assert.throws(() => resolveAdminTokens(api({ 'api.adminTokenFile': '/nonexistent/starling-tokens' }), {}), (err) => isStarlingError(err, 'STARLING_ERR_CONFIG_FILE') && /ENOENT/.test(err.message))
})

test('bearer tokens: exact match only, any of several, Bearer scheme only', () => {
  const tokens = new BearerTokens(['first-token-0123456789', 'second-token-0123456789'])
  assert.equal(tokens.size, 2)
  assert.ok(tokens.matches('first-token-0123456789'))
  assert.ok(tokens.matches('second-token-0123456789'))
  for (const wrong of ['', 'first-token-012345678', 'first-token-01234567890', 'FIRST-TOKEN-0123456789']) assert.ok(!tokens.matches(wrong), wrong)
  assert.ok(!new BearerTokens([]).matches(''))
  assert.equal(bearerOf('Bearer abc'), 'abc')
  assert.equal(bearerOf('bearer   abc '), 'abc')
  assert.equal(bearerOf('Basic abc'), undefined)
  assert.equal(bearerOf('Bearer a b'), undefined)
  assert.equal(bearerOf(undefined), undefined)
})

test('durations: seconds or a number with s, m, h, d, w', () => {
  assert.deepEqual(['3600', '90s', '30m', '48h', '7d', '2w'].map(parseDurationSeconds), [3600, 90, 1800, 172800, 604800, 1209600])
  for (const bad of ['0', '0h', '-5', '1.5h', '48hours', '', 'h']) assert.equal(parseDurationSeconds(bad), undefined, bad)
})
