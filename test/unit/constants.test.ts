import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as ours from '../../src/constants.js'

// aedes' package exports only its entry point: its constants module is read by path.
const aedesConstantsUrl = new URL('../../node_modules/aedes/lib/constants.js', import.meta.url).href

interface AedesConstants {
  SESSION_NEVER_EXPIRES: number
  RECEIVE_MAXIMUM_DEFAULT: number
  REASON_CODE_ERROR_THRESHOLD: number
  ReasonCodes: Record<string, number>
}

test('every reason code aedes sends has the same name and value in src/constants.ts', async () => {
  const aedes = await import(aedesConstantsUrl) as AedesConstants
  assert.ok(Object.keys(aedes.ReasonCodes).length > 10)
  for (const [name, value] of Object.entries(aedes.ReasonCodes)) {
    assert.equal((ours.ReasonCode as Record<string, number>)[name], value, `ReasonCode.${name}`)
  }
})

test('the sentinels and defaults agree with aedes', async () => {
  const aedes = await import(aedesConstantsUrl) as AedesConstants
  assert.equal(ours.SESSION_NEVER_EXPIRES, aedes.SESSION_NEVER_EXPIRES)
  assert.equal(ours.RECEIVE_MAXIMUM_DEFAULT, aedes.RECEIVE_MAXIMUM_DEFAULT)
  assert.equal(ours.REASON_CODE_ERROR_THRESHOLD, aedes.REASON_CODE_ERROR_THRESHOLD)
})

test('reason codes are unique and failures are the codes from 0x80 on', () => {
  const values = Object.values(ours.ReasonCode)
  assert.equal(new Set(values).size, values.length)
  assert.ok(ours.ReasonCode.UNSPECIFIED_ERROR === ours.REASON_CODE_ERROR_THRESHOLD)
  assert.ok(ours.ReasonCode.NO_SUBSCRIPTION_EXISTED < ours.REASON_CODE_ERROR_THRESHOLD)
  assert.deepEqual(Object.values(ours.ConnackReturnCode), [0, 1, 2, 3, 4, 5])
})
