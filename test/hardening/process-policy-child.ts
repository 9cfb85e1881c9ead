// Child process of process-policy.test.ts: the serve command's process policy with a real logger
// and metrics, then an unhandled rejection, then an uncaught exception.
import { Registry } from 'prom-client'
import { createLogger } from '../../src/logger.js'
import { FaultMetrics } from '../../src/metrics/faults.js'
import { installProcessPolicy } from '../../src/process-policy.js'

const logger = createLogger('info', 'policy-child')
const faults = new FaultMetrics(new Registry())
faults.useLogger(logger)
const drainMs = Number(process.env.DRAIN_MS ?? '1000')
const hangingDrain = process.env.HANGING_DRAIN === '1'
installProcessPolicy({
  logger,
  faults,
  drainMs,
  drain: async () => {
    logger.info('drain started')
    if (hangingDrain) await new Promise(() => {})
    logger.info({ counted: (await faults.counter.get()).values.map((v) => [v.labels.kind, v.value]) }, 'drain finished')
  }
})
void Promise.reject(new Error('nobody waited for this'))
setTimeout(() => {
  logger.info('still serving after the rejection')
  setTimeout(() => { throw new Error('state unknown') }, 10)
}, 50)
setInterval(() => {}, 1000) // a pod's work keeps the loop alive: only the policy ends it
