import type { Logger } from './logger.js'
import type { FaultMetrics } from './metrics/faults.js'

/**
 * What a `starling serve` process does with an error nothing handled (README "Faults and bad
 * input"):
 * - an unhandled promise rejection: one failed operation whose caller forgot to wait for it; the
 *   state it touched is in Redis or in the connection it belonged to, so it is logged (with its
 *   stack), counted (`starling_faults_total{kind="unhandled_rejection"}`) and the pod keeps
 *   serving.
 * - an uncaught exception: it unwound a stack of unknown depth (aedes' state machine, a socket
 *   handler); what it left half-done is unknown, so the pod logs and counts it, stops taking
 *   connections and drains (as on SIGTERM, bounded by `drainSeconds`), then exits 1 so the
 *   orchestrator restarts it; clients reconnect to other pods and resume their sessions. A
 *   second one during the drain exits at once.
 */
export interface ProcessPolicyOptions {
  readonly logger: Logger
  readonly faults: FaultMetrics
  /** Drains the node (bounded by the caller). */
  readonly drain: () => Promise<void>
  /** Upper bound of the drain before exiting anyway. */
  readonly drainMs: number
  /** process.exit, replaceable in a test process. */
  readonly exit?: (code: number) => void
  readonly target?: NodeJS.EventEmitter
}

/** Installs the handlers; returns a function that removes them. */
export function installProcessPolicy (options: ProcessPolicyOptions): () => void {
  const { logger, faults, drain, drainMs } = options
  const exit = options.exit ?? ((code: number) => process.exit(code))
  const target = options.target ?? process
  let exiting = false

  const onRejection = (reason: unknown): void => {
    faults.record('unhandled_rejection', reason)
    logger.error({ err: reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason) }, 'unhandled promise rejection; the pod keeps serving')
  }
  const onException = (err: unknown): void => {
    faults.record('uncaught_exception', err)
    logger.fatal({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, exiting ? 'uncaught exception while draining; exiting now' : 'uncaught exception; state unknown: draining, then exiting 1')
    logger.flush()
    if (exiting) {
      exit(1)
      return
    }
    exiting = true
    const timer = setTimeout(() => exit(1), drainMs)
    timer.unref()
    drain().catch((drainErr: unknown) => logger.error({ err: String(drainErr) }, 'drain failed')).finally(() => {
      clearTimeout(timer)
      logger.flush()
      exit(1)
    })
  }
  target.on('unhandledRejection', onRejection)
  target.on('uncaughtException', onException)
  return () => {
    target.off('unhandledRejection', onRejection)
    target.off('uncaughtException', onException)
  }
}
