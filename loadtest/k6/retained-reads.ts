/**
 * Retained-state reads: a back-end writer per VU stores one retained message per device at
 * TOPIC_PREFIX/v<VU>/<device>/state (QoS 1, retain); then the devices connect, subscribe to their
 * state topic and must get it at once with the RETAIN flag [MQTT-3.3.1-6] [MQTT-3.3.1-8]. They hold
 * for DURATION; at the end the writer clears the states (empty retained payload, [MQTT-3.3.1-10]).
 *   k6 run -e URL=ws://HOST:8080/mqtt -e DEVICES=10000 -e DURATION=30s loadtest/k6/retained-reads.ts
 */
import { clearTimeout, setTimeout } from 'k6/timers'
import { openDevice, ramp, Ticker, type Device } from './lib/device.ts'
import { backendCredential, deviceCredential, settings as s } from './lib/env.ts'
import { connectThresholds, fleetOptions, m, touchCounters } from './lib/metrics.ts'
import { publishWindowed, waitUntil } from './lib/pace.ts'
import { readStamp, stampPayload } from './lib/payload.ts'
import { vuSlice } from './lib/settings.ts'

export const options = fleetOptions(s, 60_000, {
  ...connectThresholds(s),
  mqtt_retained_ok: [`rate>=${s.minDelivery}`],
  mqtt_retained_read_time: [`p(95)<${s.p95LatencyMs}`]
})

export default function (): void {
  touchCounters()
  const { first, count } = vuSlice(__VU, s.vus, s.devices)
  const base = `${s.topicPrefix}/v${__VU}`
  const topics = Array.from({ length: count }, (_, i) => `${base}/${first + i}/state`)
  const ticker = new Ticker(s.keepaliveSec)
  const devices: Device[] = []
  let onAck: () => void = () => {}
  let answered = 0
  /** Set when the read phase is booked: later answers are not counted twice. */
  let booked = false

  const finish = (writer: Device): void => {
    for (const d of devices) d.close()
    // Clear every state: a retained PUBLISH with an empty payload removes it [MQTT-3.3.1-10].
    const stop = (): void => { clearTimeout(guard); writer.close(); ticker.stop() }
    const guard = setTimeout(stop, 60_000)
    onAck = publishWindowed(writer.session, count, (i) => ({ topic: topics[i] as string, payload: new Uint8Array(0) }), 1, true, stop)
  }

  const readAll = (writer: Device): void => {
    ramp(count, s.rate / s.vus, (i) => {
      const index = first + i
      let subscribedAt = 0
      let got = false
      devices.push(ticker.add(openDevice(s, {
        credential: deviceCredential(index),
        phase: 'initial',
        onReady: (d) => { subscribedAt = Date.now(); d.session.subscribe([{ topic: topics[i] as string, qos: 1 }]) },
        onEnd: () => { if (!got && !booked) { got = true; answered++; m.retainedOk.add(false) } }
      }, {
        message: (p) => {
          if (got || booked) return
          got = true
          answered++
          const stamp = readStamp(p.payload)
          const ok = p.retain && stamp !== undefined && stamp.sender === index
          m.retainedOk.add(ok)
          if (ok) m.retainedReadTime.add(Date.now() - subscribedAt)
        }
      })))
    }, () => {
      waitUntil(() => answered >= count, s.drainMs, () => {
        booked = true
        const missing = count - answered
        for (let k = 0; k < missing; k++) m.retainedOk.add(false)
        console.log(`VU ${__VU}: ${count - missing} of ${count} devices read their retained state`)
        setTimeout(() => finish(writer), s.durationMs)
      })
    })
  }

  let stored = false
  ticker.add(openDevice(s, {
    credential: backendCredential('writer', 0),
    phase: 'backend',
    onReady: (writer) => {
      const state = (i: number): { topic: string, payload: Uint8Array } => ({ topic: topics[i] as string, payload: stampPayload(first + i, 0, Date.now(), s.payloadBytes) })
      onAck = publishWindowed(writer.session, count, state, 1, true, () => {
        stored = true
        readAll(writer)
      })
    },
    onEnd: (_w, wanted) => { if (!wanted && !stored) { console.error(`VU ${__VU}: the retained writer failed`); ticker.stop() } }
  }, {
    acked: (_id, reason) => { if (reason >= 0x80) m.publishRefused.add(1); onAck() }
  }))
}
