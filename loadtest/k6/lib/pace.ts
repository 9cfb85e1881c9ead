/** Pacing and end-of-run helpers on k6 timers, shared by the scenarios. */
import { clearInterval, setInterval } from 'k6/timers'
import { m } from './metrics.ts'
import type { DeliveryLedger } from './payload.ts'
import type { MqttSession } from './session.ts'

/**
 * Calls `fn` `perSecond()` times a second (re-read each tick, so it can follow the number of
 * connected devices) until the returned stop function is called.
 */
export function pace (perSecond: () => number, fn: () => void, tickMs = 50): () => void {
  let credit = 0
  let last = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    credit += ((now - last) / 1000) * perSecond()
    last = now
    // Bounded per tick: a stalled event loop does not turn into a burst larger than one second's worth.
    credit = Math.min(credit, Math.max(1, perSecond()))
    while (credit >= 1) { credit--; fn() }
  }, tickMs)
  return () => clearInterval(timer)
}

/** Polls `done()` every 100 ms; calls `then()` once it holds or after `maxMs`. */
export function waitUntil (done: () => boolean, maxMs: number, then: () => void): void {
  const deadline = Date.now() + maxMs
  const timer = setInterval(() => {
    if (done() || Date.now() >= deadline) { clearInterval(timer); then() }
  }, 100)
}

/** Books a message's first arrival (delivered, latency) or a duplicate. */
export function recordArrival (ledger: DeliveryLedger, stamp: { sender: number, seq: number, sentAt: number }, latency = true): void {
  if (ledger.receive(stamp)) {
    m.delivered.add(1)
    m.delivery.add(true)
    if (latency) m.latency.add(Date.now() - stamp.sentAt)
  } else {
    m.duplicates.add(1)
  }
}

/** Books every message still missing as lost (after the drain time). */
export function recordLosses (ledger: DeliveryLedger): void {
  const lost = ledger.missing
  m.lost.add(lost)
  for (let i = 0; i < lost; i++) m.delivery.add(false)
  console.log(`VU ${__VU}: sent ${ledger.sent}, delivered ${ledger.delivered}, lost ${lost}, duplicates ${ledger.duplicates}`)
}

/**
 * Publishes `count` messages with at most `window` (and the server's Receive Maximum) in flight;
 * feed it PUBACK/PUBCOMP through the returned function; `done()` runs once all are acknowledged.
 */
export function publishWindowed (
  session: MqttSession, count: number, message: (i: number) => { topic: string, payload: Uint8Array },
  qos: 1 | 2, retain: boolean, done: () => void, window = 100
): () => void {
  let next = 0
  let acked = 0
  const pump = (): void => {
    while (next < count && session.state === 'connected' && session.inflight < Math.min(window, session.sendQuota)) {
      const { topic, payload } = message(next++)
      session.publish(topic, payload, qos, retain)
    }
  }
  pump()
  if (count === 0) done()
  return () => { if (++acked === count) done(); else pump() }
}
