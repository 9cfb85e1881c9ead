// Runs aedes' own test files (shipped in node_modules/aedes/test) against the installed, patched
// aedes: one `node` process per file, a bounded number at a time, each with the gate
// (test/helpers/aedes-suite-gate.ts) that skips or selects tests by name and bounds each test's
// time, and a reporter (test/helpers/aedes-suite-reporter.ts) that writes one JSON line per test.
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { resultMarker, type AedesTestResult } from './aedes-suite-reporter.js'

export type { AedesTestResult } from './aedes-suite-reporter.js'

export const aedesTestDir = fileURLToPath(new URL('../../node_modules/aedes/test/', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
const gate = fileURLToPath(new URL('./aedes-suite-gate.ts', import.meta.url))
const reporter = fileURLToPath(new URL('./aedes-suite-reporter.ts', import.meta.url))

/** aedes' test files (the files its `unit` script runs), helper.js excepted. */
export function aedesTestFiles (): string[] {
  return readdirSync(aedesTestDir)
    .filter((f) => /\.(c?js)$/.test(f) && f !== 'helper.js')
    .sort()
}

export interface AedesFileRun {
  readonly file: string
  readonly results: AedesTestResult[]
  /** Exit code, or the signal that ended it; null when the runner had to kill it. */
  readonly exit: number | NodeJS.Signals | null
  /** The end of the file's stderr, to explain a file that crashed or reported nothing. */
  readonly stderrTail: string
}

/** One run of one aedes test file. */
export interface AedesJob {
  readonly file: string
  /** [test name, reason] pairs to skip, or (mode `only`) the only tests to run. */
  readonly tests: readonly (readonly [string, string])[]
  readonly mode: 'skip' | 'only'
  /** Each test's timeout (a test waiting for an event that never comes fails after it). */
  readonly testTimeoutMs: number
}

// a file still running after this is killed (its finished tests are still reported)
const fileTimeoutMs = 90_000

function runJob (job: AedesJob): Promise<AedesFileRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AEDES_SUITE_TESTS: JSON.stringify(job.tests),
    AEDES_SUITE_MODE: job.mode,
    AEDES_SUITE_TEST_TIMEOUT_MS: String(job.testTimeoutMs)
  }
  // inherited from our own test process, it would make the child report to a parent runner
  // instead of through our reporter
  delete env.NODE_TEST_CONTEXT
  const child = spawn(process.execPath, [
    '--import', 'tsx', '--import', gate,
    // a test that timed out may leave its broker open: end the file once its tests are done
    '--test-force-exit',
    '--test-reporter', reporter, '--test-reporter-destination', 'stdout',
    join(aedesTestDir, job.file)
  ], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const results: AedesTestResult[] = []
  let partial = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      if (line.startsWith(resultMarker)) results.push(JSON.parse(line.slice(resultMarker.length)) as AedesTestResult)
    }
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const killer = setTimeout(() => child.kill('SIGKILL'), fileTimeoutMs)
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(killer)
      resolve({
        file: job.file,
        results,
        exit: signal === 'SIGKILL' ? null : (code ?? signal),
        stderrTail: stderr.trim().split('\n').slice(-15).join('\n')
      })
    })
  })
}

/** Runs the jobs, at most `concurrency` files at a time, in the given order; results in job order. */
export async function runAedesJobs (jobs: readonly AedesJob[], concurrency: number): Promise<AedesFileRun[]> {
  const runs: AedesFileRun[] = new Array(jobs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i]
      if (job !== undefined) runs[i] = await runJob(job)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker))
  return runs
}
