import { parseArgs } from 'node:util'
import { killAll } from './procs.js'
import { formatReport } from './report.js'
import { runChaos } from './run.js'
import { runMain } from '../bench/run-main.js'

const USAGE = `usage: npm run chaos -- [--minutes N] [--rate N] [--pods N]   (build first: pods run dist/)
  --minutes N     traffic phase, faults inside it (default 10; fractions allowed, e.g. 0.75)
  --rate N        messages per second per publisher (default 20; 4 publishers)
  --pods N        pods behind HAProxy (default 3)
  --fault-every S seconds between fault starts (default 20)
Loopback only: redis-server (AOF), N \`starling serve\` pods and HAProxy on free 127.0.0.1 ports.
Exit status 1 when an acknowledged message was lost, a QoS 2 message arrived twice at a
subscriber, or the cluster did not recover after a fault.`

async function main (): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { minutes: { type: 'string' }, rate: { type: 'string' }, pods: { type: 'string' }, 'fault-every': { type: 'string' }, help: { type: 'boolean', short: 'h' } }
  })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const number = (value: string | undefined, fallback: number, name: string, max: number): number => {
    const n = Number(value ?? fallback)
    if (!Number.isFinite(n) || n <= 0 || n > max) throw new Error(`--${name}: a number in (0, ${max}]\n${USAGE}`)
    return n
  }
  const minutes = number(values.minutes, 10, 'minutes', 120)
  const faultEvery = number(values['fault-every'], 20, 'fault-every', 600)
  const result = await runChaos({
    trafficMs: Math.round(minutes * 60_000),
    faultEveryMs: Math.round(faultEvery * 1000),
    podDownMs: 2000,
    redisDownMs: 2000,
    redisPauseMs: 5000,
    drainMs: 90_000,
    rate: number(values.rate, 20, 'rate', 1000),
    window: 50,
    pods: Math.round(number(values.pods, 3, 'pods', 10)),
    claimIdleMs: 5000,
    log: (line) => process.stderr.write(`chaos: ${line}\n`)
  })
  process.stdout.write(formatReport(result, `npm run chaos -- ${process.argv.slice(2).join(' ')}`.trim()))
  const t = result.totals
  const qos2Dup = t.receivers.filter((r) => r.members === 1).reduce((a, r) => a + r.duplicatesQos2, 0)
  if (t.lost > 0 || qos2Dup > 0 || result.faults.some((f) => f.recoveredMs === null)) process.exitCode = 1
}

runMain('chaos', main, killAll)
