import type { Engine } from '../broker/engine.js'
import { SILENT_HEARTBEATS } from '../constants.js'

/** Which pods are dead, by their aedes heartbeats, as the dead-pod sweeps (wills, sessions) see it. */
export interface PodLiveness {
  /** True once `podId` (not this pod) has been silent for 3 heartbeats while this pod could hear it. */
  isDead (podId: string): boolean
}

export interface LivenessDeps {
  readonly nodeId: string
  readonly heartbeatMs: number
  /** Redis reachability: heartbeats do not flow while it is down, which is no pod's death. */
  readonly health?: { readonly up: boolean, onChange (listener: (up: boolean) => void): () => void }
}

/**
 * Listens to the pods' `$SYS/<id>/heartbeat` (every `cluster.heartbeatMs`) and `$SYS/<id>/birth`
 * (when a pod's broker starts, before it takes clients). A pod is dead once it has been silent
 * for 3 heartbeats — judged only after this pod has listened, with Redis up, for 4 heartbeats
 * (a pod that has just started, or whose Redis just came back, has not heard the others yet).
 * A pod that has heard no heartbeat at all for 3 heartbeats, its own included, judges nobody: the
 * silence is its own (a stalled event loop, a backlog of bus messages).
 * Membership (member-registry.ts) answers "who is in the cluster" with a TTL of its own; this answers
 * "whose connections are gone" within 3 heartbeats, as aedes' will sweep always has.
 */
export function watchPodHeartbeats (broker: Pick<Engine, 'mq'>, deps: LivenessDeps): PodLiveness {
  const mq = broker.mq
  const heard = new Map<string, number>()
  /** When this pod last heard any pod's heartbeat, its own included (it comes back over the bus too). */
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
  return {
    isDead (podId) {
      if (podId === deps.nodeId || listeningSince === undefined) return false
      const now = Date.now()
      if (now - listeningSince < (SILENT_HEARTBEATS + 1) * deps.heartbeatMs) return false
      // Silence from everyone, this pod included, says this pod is behind (its event loop stalled,
      // or its bus messages wait unread): the others are not judged on it. Judging them dead would
      // hand this pod their sessions, wills and disconnected events (work in proportion to their
      // clients) just when it is short of CPU, and a pod starved that way next judges the rest.
      if (newest === undefined || now - newest > SILENT_HEARTBEATS * deps.heartbeatMs) return false
      const last = heard.get(podId)
      return last === undefined || now - last > SILENT_HEARTBEATS * deps.heartbeatMs
    }
  }
}
