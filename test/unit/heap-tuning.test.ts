import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HEAP_DEFAULTS, applyHeapDefaults } from '../../src/heap-tuning.js'

const ALL = HEAP_DEFAULTS.map((d) => d.flag)

test('starling serve sets its heap defaults when node was started without them', () => {
  assert.deepEqual(ALL, ['--heap-growing-percent=20', '--compact-on-every-full-gc'])
  assert.deepEqual(applyHeapDefaults([]), ALL)
  assert.deepEqual(applyHeapDefaults(['--max-semi-space-size=1', '--optimize-for-size', '--enable-source-maps']), ALL)
})

test("an operator's own setting of a flag on the node command line wins for that flag", () => {
  assert.deepEqual(applyHeapDefaults(['--heap-growing-percent=50']), ['--compact-on-every-full-gc'])
  assert.deepEqual(applyHeapDefaults(['--heap_growing_percent=0']), ['--compact-on-every-full-gc'])
  assert.deepEqual(applyHeapDefaults(['--no-compact-on-every-full-gc']), ['--heap-growing-percent=20'])
  assert.deepEqual(applyHeapDefaults(['--heap-growing-percent=0', '--no-compact_on_every_full_gc']), [])
  // a longer flag that merely starts with the name is not the operator's choice
  assert.deepEqual(applyHeapDefaults(['--heap-growing-percent-x=1']), ALL)
})
