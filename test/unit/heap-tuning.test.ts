import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HEAP_GROWING_PERCENT, applyHeapDefaults } from '../../src/heap-tuning.js'

test('starling serve sets the heap growing factor when node was started without one', () => {
  assert.equal(applyHeapDefaults([]), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  assert.equal(applyHeapDefaults(['--max-semi-space-size=1', '--enable-source-maps']), `--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
})

test("an operator's own growing setting on the node command line wins", () => {
  assert.equal(applyHeapDefaults(['--heap-growing-percent=50']), undefined)
  assert.equal(applyHeapDefaults(['--heap_growing_percent=0']), undefined)
  assert.equal(applyHeapDefaults(['--optimize-for-size']), undefined)
})
