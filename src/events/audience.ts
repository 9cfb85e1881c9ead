import type { Engine, EngineEmitter } from '../broker/engine.js'

/**
 * Whether anyone, anywhere in the cluster, would receive a message on a topic: a subscription in
 * force on this pod or another (the emitter: local filters and the pods' announced interest), a
 * shared subscription group, or a stored subscription of a persistent session (offline ones are
 * queued the message). Answers synchronously when a live listener or group is known; asks the
 * persistence's subscription index only when neither is.
 */
export type Audience = (topic: string) => boolean | Promise<boolean>

function liveListener (mq: EngineEmitter, topic: string): boolean {
  if (mq.listened !== undefined) return mq.listened(topic)
  if (mq._matcher !== undefined) return mq._matcher.match(topic).length > 0
  return true
}

export function engineAudience (engine: Engine, sharedGroupFor?: (topic: string) => boolean): Audience {
  return (topic) => {
    if (liveListener(engine.mq, topic) || sharedGroupFor?.(topic) === true) return true
    const persistence = engine.persistence
    if (persistence.subscriptionsByTopic === undefined) return true
    // an index that cannot answer: publish, as before (never skip an event on a doubt)
    return persistence.subscriptionsByTopic(topic).then((subs) => subs.length > 0, () => true)
  }
}
