import { connect } from 'node:net'

/**
 * Loopback readiness probes for the processes `starling local-cluster` (and the chaos run, which
 * lays its processes out the same way) starts. Each probe answers within about a second, so a
 * wait loop around it keeps to its own deadline.
 */

const PROBE_TIMEOUT_MS = 1000

/** True once something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpOpen (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => { socket.destroy(); resolve(false) }, PROBE_TIMEOUT_MS)
    socket.once('connect', () => { clearTimeout(timer); socket.destroy(); resolve(true) })
    socket.once('error', () => { clearTimeout(timer); resolve(false) })
  })
}

/** True when GET http://127.0.0.1:`port``path` answers 200. */
export async function httpOk (port: number, path: string): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) })
    return res.status === 200
  } catch {
    return false
  }
}
