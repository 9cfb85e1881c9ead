import assert from 'node:assert/strict'
import { test } from 'node:test'
import { errorSpecs, StarlingError, isStarlingError } from '../../src/errors.js'

test('error codes are well-formed and carry valid MQTT codes', () => {
  for (const [code, spec] of Object.entries(errorSpecs)) {
    assert.match(code, /^STARLING_ERR_[A-Z_]+$/)
    const { reasonCode, returnCode } = spec as { reasonCode?: number, returnCode?: number }
    if (reasonCode !== undefined) assert.ok(reasonCode >= 0x80 && reasonCode <= 0xa2, `${code} reason code`)
    if (returnCode !== undefined) assert.ok(returnCode >= 1 && returnCode <= 5, `${code} return code`)
  }
})

test('a StarlingError formats its message, keeps its cause and is recognised by code', () => {
  const cause = new Error('EADDRINUSE')
  const err = new StarlingError('STARLING_ERR_LISTEN', ['mqtt 127.0.0.1:1883', 'in use'], { cause })
  assert.equal(err.message, 'cannot listen on mqtt 127.0.0.1:1883: in use')
  assert.equal(err.cause, cause)
  assert.ok(isStarlingError(err, 'STARLING_ERR_LISTEN'))
  assert.ok(!isStarlingError(err, 'STARLING_ERR_CLI_USAGE'))
  assert.equal(new StarlingError('STARLING_ERR_MAX_CONNECTIONS', [5]).reasonCode, 0x97)
})
