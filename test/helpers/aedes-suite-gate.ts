// Preloaded (--import) into each aedes test file the runner starts: wraps node:test's `test` so
// that (a) the tests named in AEDES_SUITE_TESTS are skipped with their deviation as the reason,
// or, with AEDES_SUITE_MODE=only, run alone (every other test skipped); (b) every test gets a timeout, so a
// test that waits for an event Starling no longer emits fails instead of hanging its file.
// aedes' files import `{ test } from 'node:test'`; syncBuiltinESMExports() makes that named
// import see the wrapper.
import { createRequire, syncBuiltinESMExports } from 'node:module'
import type { TestOptions } from 'node:test'

type TestFn = (...args: unknown[]) => unknown
type TestApi = (name?: string, options?: TestOptions | TestFn, fn?: TestFn) => Promise<void>

const require = createRequire(import.meta.url)
const nodeTest = require('node:test') as { test: TestApi, it: TestApi, after: (fn: () => Promise<void>) => void }
const original = nodeTest.test

/** [test name, reason] pairs: skipped, or (mode `only`) the only ones run. */
const listed = new Map<string, string>(JSON.parse(process.env.AEDES_SUITE_TESTS ?? '[]') as [string, string][])
const onlyListed = process.env.AEDES_SUITE_MODE === 'only'
const timeoutMs = Number(process.env.AEDES_SUITE_TEST_TIMEOUT_MS ?? 20_000)

function gatedTest (name?: string, options?: TestOptions | TestFn, fn?: TestFn): Promise<void> {
  if (typeof options === 'function') { fn = options; options = {} }
  const opts: TestOptions = { timeout: timeoutMs, ...options }
  const reason = name === undefined ? undefined : listed.get(name)
  if (onlyListed && reason === undefined) opts.skip = 'not a listed deviation'
  if (!onlyListed && reason !== undefined) opts.skip = reason
  return original(name, opts, fn)
}

// --test-force-exit ends the file when its last test ends: wait a little first, so a failure
// a test causes after it ended (a late callback) is still reported against it
nodeTest.after(() => new Promise((resolve) => setTimeout(resolve, 300)))

Object.assign(gatedTest, original) // test.skip, test.todo, test.only, test.mock...
nodeTest.test = gatedTest
nodeTest.it = gatedTest
syncBuiltinESMExports()
