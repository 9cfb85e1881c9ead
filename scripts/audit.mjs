// Supply-chain gate for CI: fails on a known high or critical advisory in the production
// dependencies (`npm audit --omit=dev`). A registry without the audit endpoint (some mirrors
// answer 405) cannot say either way: that is reported loudly and does not fail the run, since
// it says nothing about the dependencies. Plain JavaScript: it runs before `npm ci`.
import { spawnSync } from 'node:child_process'

const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' })
let report
try {
  report = JSON.parse(run.stdout)
} catch {
  process.stderr.write(`audit: no report from npm audit (exit ${run.status}):\n${run.stderr}\n`)
  process.exit(1)
}
if (report.metadata?.vulnerabilities === undefined) {
  const why = [report.error?.summary, report.error?.code, report.statusCode, report.message].find(Boolean) ?? 'no vulnerability counts'
  process.stderr.write(`audit: SKIPPED, the registry's audit endpoint did not answer (${why})\n`)
  process.exit(0)
}
const counts = report.metadata?.vulnerabilities ?? {}
const serious = (counts.high ?? 0) + (counts.critical ?? 0)
process.stdout.write(`audit: ${JSON.stringify(counts)}\n`)
if (serious > 0) {
  spawnSync('npm', ['audit', '--omit=dev', '--audit-level=high'], { stdio: 'inherit' })
  process.exit(1)
}
