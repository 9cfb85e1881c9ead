import type { FaultMetrics } from '../metrics/faults.js'
import type { Engine } from './engine.js'

/**
 * Store failures aedes reports for one client (our patch's 'persistenceError'): the client was
 * refused or disconnected, the pod stays up. Counted as faults (rate-limited log).
 */
export function observeStoreFaults (broker: Engine, faults: FaultMetrics): void {
  broker.on('persistenceError', (client, err, step) => {
    const kind = step === 'retained' ? 'retained_read_failed' : step === 'subscribe' ? 'subscribe_store_failed' : 'session_restore_failed'
    faults.record(kind, err, { clientId: client.id })
  })
}
