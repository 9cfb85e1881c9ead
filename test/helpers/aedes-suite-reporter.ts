// node:test reporter for the aedes suite runner (test/helpers/aedes-suite.ts): one JSON line per
// finished test, so the runner can match results to the deviation list by file and test name.
// It writes to stdout, a pipe: pipes are written synchronously on Linux, so nothing is lost when
// --test-force-exit ends the process (a file destination loses what is not flushed yet). The
// tests' own console output shares stdout, hence the marker.
import type { TestEvent } from 'node:test/reporters'

/** Starts each result line on stdout. */
export const resultMarker = '@@aedes-suite@@'

/** One finished test of an aedes test file, as the runner reads it back. */
export interface AedesTestResult {
  /** Test name; a subtest's name is prefixed with its parents' names and ` > `. */
  readonly name: string
  readonly outcome: 'pass' | 'fail' | 'skip'
  /** The skip reason, or the failure message (the assertion's own message when there is one). */
  readonly detail?: string
  /** The failure's expected/actual and the first stack frames, for the runner's report. */
  readonly diagnostics?: string
  readonly durationMs: number
}

function describeError (error: unknown): { detail: string, diagnostics: string } {
  // node:test wraps what the test threw in ERR_TEST_FAILURE with the original as `cause`
  const wrapper = error as { cause?: unknown, message?: string } | undefined
  const cause = (wrapper?.cause ?? wrapper) as
    { message?: unknown, expected?: unknown, actual?: unknown, stack?: unknown } | undefined
  const detail = typeof cause === 'object' && cause !== null && typeof cause.message === 'string'
    ? cause.message
    : String(cause)
  const lines: string[] = []
  if (typeof cause === 'object' && cause !== null) {
    if ('expected' in cause) lines.push(`expected: ${JSON.stringify(cause.expected)}`)
    if ('actual' in cause) lines.push(`actual:   ${JSON.stringify(cause.actual)}`)
    if (typeof cause.stack === 'string') {
      lines.push(...cause.stack.split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 4))
    }
  }
  return { detail, diagnostics: lines.join('\n') }
}

// A test whose callbacks fail after it ended is reported as passed, and the failure only as a
// diagnostic (the file then exits non-zero): turn it back into a failure of that test.
const lateFailure = /^Error: Test "(.*)" at \S+ generated asynchronous activity after the test ended\. This activity created the error "([\s\S]*)" and would have/

export default async function * aedesSuiteReporter (source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const parents: string[] = []
  for await (const event of source) {
    if (event.type === 'test:start') {
      parents.length = event.data.nesting
      parents.push(event.data.name)
      continue
    }
    if (event.type === 'test:diagnostic') {
      const late = lateFailure.exec(event.data.message)
      if (late !== null) {
        const result: AedesTestResult = { name: late[1] ?? '', outcome: 'fail', detail: `after the test ended: ${late[2] ?? ''}`, durationMs: 0 }
        yield `\n${resultMarker}${JSON.stringify(result)}\n`
      }
      continue
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const { data } = event
    const name = [...parents.slice(0, data.nesting), data.name].join(' > ')
    let result: AedesTestResult
    if (data.skip !== undefined && data.skip !== false) {
      result = { name, outcome: 'skip', detail: String(data.skip), durationMs: data.details.duration_ms }
    } else if (event.type === 'test:pass') {
      result = { name, outcome: 'pass', durationMs: data.details.duration_ms }
    } else {
      result = { name, outcome: 'fail', ...describeError(event.data.details.error), durationMs: data.details.duration_ms }
    }
    yield `\n${resultMarker}${JSON.stringify(result)}\n`
  }
}
