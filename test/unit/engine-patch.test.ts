import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as aedes from 'aedes'
import { ENGINE_PATCH, assertEnginePatched } from '../../src/broker/engine.js'
import { isStarlingError } from '../../src/errors.js'

test('the installed aedes carries our patch at the revision this code expects', () => {
  assert.equal((aedes as { starlingPatch?: unknown }).starlingPatch, ENGINE_PATCH)
  assert.doesNotThrow(() => assertEnginePatched(aedes))
})

test('an aedes without our patch, or with another revision of it, is refused with STARLING_ERR_ENGINE_UNPATCHED', () => {
  // A module namespace as plain aedes exports it: everything but the marker.
  const plain = Object.fromEntries(Object.entries(aedes).filter(([name]) => name !== 'starlingPatch'))
  assert.ok('Aedes' in plain)
  for (const engineModule of [plain, { ...plain, starlingPatch: ENGINE_PATCH - 1 }]) {
    assert.throws(() => assertEnginePatched(engineModule), (err: unknown) => {
      assert.ok(isStarlingError(err, 'STARLING_ERR_ENGINE_UNPATCHED'))
      assert.match(err.message, /not patched/)
      assert.match(err.message, /without --ignore-scripts/)
      return true
    })
  }
})
