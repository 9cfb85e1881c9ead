import type { FaultMetrics } from '../metrics/faults.js'
import type { Engine } from './engine.js'

/**
 * Store failures aedes reports for one client (our patch's 'persistenceError'): the client was
 * refused or disconnected, the pod stays up. Counted as faults (rate-limited log).
 */
export function observeStoreFaults (broker: Engine, faults: FaultMetrics): void {
  broker.on('persistenceError', (client, err, step) => {
    faults.record(step === 'retained' ? 'retained_read_failed' : 'session_restore_failed', err, { clientId: client.id })
  })
}
