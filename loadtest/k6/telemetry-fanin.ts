/**
 * Telemetry fan-in: devices publish a stamped payload every INTERVAL to
 * TOPIC_PREFIX/v<VU>/<device>/telemetry at QOS; CONSUMERS back-end clients per VU read them
 * through one shared subscription `$share/GROUP/TOPIC_PREFIX/v<VU>/+/telemetry`, so each message
 * reaches one consumer. Each VU checks its own devices' messages: delivery ratio, latency.
 *   k6 run -e URL=ws://HOST:8080/mqtt -e DEVICES=10000 -e INTERVAL=5s -e DURATION=5m loadtest/k6/telemetry-fanin.ts
 */
import { setTimeout } from 'k6/timers'
import { openDevice, ramp, type Device } from './lib/device.ts'
import { backendCredential, deviceCredential, settings as s } from './lib/env.ts'
import { connectThresholds, deliveryThresholds, fleetOptions, m } from './lib/metrics.ts'
import { pace, recordArrival, recordLosses, waitUntil } from './lib/pace.ts'
import { readStamp, stampPayload } from './lib/payload.ts'
import { startVu } from './lib/vu.ts'

export const options = fleetOptions(s, 0, { ...connectThresholds(s), ...deliveryThresholds(s), mqtt_connection_drops: ['count==0'] })

export default function (): void {
  const { first, count, base, ticker, ledger } = startVu()
  const consumers: Device[] = []
  const devices: Device[] = []
  const ready: Array<{ device: Device, index: number }> = []
  let subscribed = 0
  let started = false

  const startDevices = (): void => {
    started = true
    let cursor = 0
    const stopPublishing = pace(() => ready.length / (s.intervalMs / 1000), () => {
      if (ready.length === 0) return
      const { device, index } = ready[cursor++ % ready.length] as { device: Device, index: number }
      const session = device.session
      if (session.state !== 'connected') return
      if (s.qos > 0 && session.inflight >= session.sendQuota) { m.publishRefused.add(1); return }
      const payload = stampPayload(index, ledger.nextSeq(index), Date.now(), s.payloadBytes)
      session.publish(`${base}/${index}/telemetry`, payload, s.qos)
      m.sent.add(1)
    })
    ramp(count, s.rate / s.vus, (i) => {
      devices.push(ticker.add(openDevice(s, {
        credential: deviceCredential(first + i),
        phase: 'initial',
        onReady: (device) => { ready.push({ device, index: first + i }) }
      }, {
        acked: (_id, reason, elapsed) => { if (reason >= 0x80) m.publishRefused.add(1); else m.ackTime.add(elapsed) }
      })))
    }, () => {
      setTimeout(() => {
        stopPublishing()
        waitUntil(() => ledger.missing === 0, s.drainMs, () => {
          recordLosses(ledger)
          for (const d of devices) d.close()
          for (const c of consumers) c.close()
          ticker.stop()
        })
      }, s.durationMs)
    })
  }

  const filter = `$share/${s.group}/${base}/+/telemetry`
  for (let n = 0; n < s.consumers; n++) {
    consumers.push(ticker.add(openDevice(s, {
      credential: backendCredential('consumer', n),
      phase: 'backend',
      onReady: (c) => { c.session.subscribe([{ topic: filter, qos: s.qos }]) },
      onEnd: (_c, wanted) => {
        if (started || wanted) return
        console.error(`VU ${__VU}: a consumer could not connect; no devices started`)
        for (const c of consumers) c.close()
        ticker.stop()
      }
    }, {
      suback: (_id, codes) => {
        if (codes.some((c) => c >= 0x80)) console.error(`VU ${__VU}: shared subscription ${filter} refused: 0x${(codes[0] ?? 0).toString(16)}`)
        if (++subscribed === s.consumers) startDevices()
      },
      message: (p) => {
        const stamp = readStamp(p.payload)
        if (stamp !== undefined) recordArrival(ledger, stamp)
      }
    })))
  }
}
