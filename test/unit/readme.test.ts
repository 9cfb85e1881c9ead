import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { configTable } from '../../scripts/config-docs.js'
import { errorSpecs } from '../../src/errors.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

test('the README configuration table matches the schema (regenerate with scripts/config-docs.ts)', () => {
  assert.ok(readme.includes(configTable()), 'README config table is stale: node --import tsx scripts/config-docs.ts')
})

test('every error code is documented in the README', () => {
  for (const code of Object.keys(errorSpecs)) {
    assert.ok(readme.includes('`' + code + '`'), `${code} is missing from the README`)
  }
})

test('the README gives the two set-up commands, and .ci/run runs the same test command', () => {
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')
  assert.ok(readme.includes('npm install && npm start'))
  const testCommand = 'npm ci && npm test'
  assert.ok(readme.includes(testCommand))
  assert.ok(ci.includes(testCommand))
  assert.ok(ci.includes('node scripts/audit.mjs'), '.ci/run fails on a high advisory in the production dependencies')
  for (const pkg of ['redis-server', 'mosquitto', 'mosquitto-clients', 'haproxy']) {
    assert.ok(ci.includes(pkg), `.ci/run installs ${pkg}`)
  }
})
