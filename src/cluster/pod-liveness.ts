import type { Engine } from '../broker/engine.js'
import { SILENT_HEARTBEATS } from '../constants.js'

/** Which pods are dead, by their aedes heartbeats and their membership entries, as the dead-pod sweeps (wills, sessions, events) see it. */
export interface PodLiveness {
  /**
   * True once `podId` (not this pod) has been silent on the bus for 3 heartbeats while this pod
   * could hear it, and has not renewed its membership entry for as long.
   */
  isDead (podId: string): Promise<boolean>
}

export interface LivenessDeps {
  readonly nodeId: string
  readonly heartbeatMs: number
  /** Redis reachability: heartbeats do not flow while it is down, which is no pod's death. */
  readonly health?: { readonly up: boolean, onChange (listener: (up: boolean) => void): () => void }
  /** Milliseconds since the pod last renewed its membership entry (member-registry.ts); Infinity without one. */
  readonly sinceRenewalMs?: (podId: string) => Promise<number>
}

/**
 * Listens to the pods' `$SYS/<id>/heartbeat` (every `cluster.heartbeatMs`) and `$SYS/<id>/birth`
 * (when a pod's broker starts, before it takes clients). A pod is dead once it has been silent
 * for 3 heartbeats — judged only after this pod has listened, with Redis up, for 4 heartbeats
 * (a pod that has just started, or whose Redis just came back, has not heard the others yet).
 * A pod that has heard no heartbeat at all for 3 heartbeats judges nobody: the silence is its
 * own (a stalled event loop).
 * A pod whose bus messages wait unread (a backlog behind a burst) hears the others late while
 * its own heartbeat, delivered locally, is on time; so the bus's verdict is checked against the
 * membership entry every pod renews each heartbeat straight in Redis (member-registry.ts): a pod
 * that renewed it within the last 3 heartbeats is alive whatever the bus says. Judging a live pod
 * dead would take over its connected clients' sessions and publish their wills.
 * Membership answers "who is in the cluster" with a TTL of its own; this answers "whose
 * connections are gone" within 3 heartbeats, as aedes' will sweep always has.
 */
export function watchPodHeartbeats (broker: Pick<Engine, 'mq'>, deps: LivenessDeps): PodLiveness {
  const mq = broker.mq
  const heard = new Map<string, number>()
  /** When this pod last heard any pod's heartbeat, its own included. */
  let newest: number | undefined
  let listeningSince: number | undefined = deps.health === undefined || deps.health.up ? Date.now() : undefined
  deps.health?.onChange((up) => { listeningSince = up ? Date.now() : undefined })
  const onBeat = (packet: { payload: Buffer | string }, done: () => void): void => {
    const now = Date.now()
    heard.set(packet.payload.toString(), now)
    newest = now
    done()
  }
  mq.on('$SYS/+/heartbeat', onBeat)
  mq.on('$SYS/+/birth', onBeat)
  const silentOnBus = (podId: string): boolean => {
    if (podId === deps.nodeId || listeningSince === undefined) return false
    const now = Date.now()
    if (now - listeningSince < (SILENT_HEARTBEATS + 1) * deps.heartbeatMs) return false
    // Silence from everyone, this pod included, says this pod is behind: the others are not
    // judged on it. Judging them dead would hand this pod their sessions, wills and disconnected
    // events (work in proportion to their clients) just when it is short of CPU.
    if (newest === undefined || now - newest > SILENT_HEARTBEATS * deps.heartbeatMs) return false
    const last = heard.get(podId)
    return last === undefined || now - last > SILENT_HEARTBEATS * deps.heartbeatMs
  }
  return {
    async isDead (podId) {
      if (!silentOnBus(podId)) return false
      if (deps.sinceRenewalMs === undefined) return true
      try {
        return await deps.sinceRenewalMs(podId) > SILENT_HEARTBEATS * deps.heartbeatMs
      } catch {
        return false // Redis unreadable: nobody is judged (the sweeps fail too, and run again)
      }
    }
  }
}
