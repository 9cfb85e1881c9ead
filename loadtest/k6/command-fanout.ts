/**
 * Command fan-out: every device subscribes to its own command topic
 * TOPIC_PREFIX/v<VU>/<device>/cmd; one back-end publisher per VU sends COMMAND_RATE commands/s
 * (across all VUs) round-robin to the subscribed devices for DURATION. Delivery ratio and
 * publish-to-device latency are measured on the devices.
 *   k6 run -e URL=ws://HOST:8080/mqtt -e DEVICES=10000 -e COMMAND_RATE=1000 loadtest/k6/command-fanout.ts
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
  const devices: Device[] = []
  /** Device indexes whose SUBACK granted the subscription. */
  const targets: number[] = []

  const finish = (publisher: Device): void => {
    waitUntil(() => ledger.missing === 0, s.drainMs, () => {
      recordLosses(ledger)
      for (const d of devices) d.close()
      publisher.close()
      ticker.stop()
    })
  }

  let pubReady = false
  let settled = 0
  const publisher = ticker.add(openDevice(s, {
    credential: backendCredential('commander', 0),
    phase: 'backend',
    onReady: () => { pubReady = true },
    onEnd: (_pub, wanted) => {
      if (wanted) return
      console.error(`VU ${__VU}: the command publisher is gone; stopping`)
      for (const d of devices) d.close()
      ticker.stop()
    }
  }, {
    acked: (_id, reason, elapsed) => { if (reason >= 0x80) m.publishRefused.add(1); else m.ackTime.add(elapsed) }
  }))

  /** Commands run for DURATION once every device subscribed (or failed), round-robin over the subscribed ones. */
  const startCommands = (): void => {
    let cursor = 0
    const pub = publisher.session
    const stop = pace(() => s.commandRate / s.vus, () => {
      if (targets.length === 0 || pub.state !== 'connected') return
      if (s.qos > 0 && pub.inflight >= pub.sendQuota) { m.publishRefused.add(1); return }
      const index = targets[cursor++ % targets.length] as number
      pub.publish(`${base}/${index}/cmd`, stampPayload(index, ledger.nextSeq(index), Date.now(), s.payloadBytes), s.qos)
      m.sent.add(1)
    })
    setTimeout(() => { stop(); finish(publisher) }, s.durationMs)
  }

  ramp(count, s.rate / s.vus, (i) => {
    const index = first + i
    let done = false
    const settle = (): void => { if (!done) { done = true; settled++ } }
    devices.push(ticker.add(openDevice(s, {
      credential: deviceCredential(index),
      phase: 'initial',
      onReady: (d) => { d.session.subscribe([{ topic: `${base}/${index}/cmd`, qos: s.qos }]) },
      onEnd: settle
    }, {
      suback: (_id, codes) => { settle(); if ((codes[0] ?? 0x80) < 0x80) targets.push(index) },
      message: (p) => {
        const stamp = readStamp(p.payload)
        if (stamp !== undefined && stamp.sender === index) recordArrival(ledger, stamp)
      }
    })))
  }, () => {
    waitUntil(() => pubReady && settled >= count, s.connectTimeoutMs, startCommands)
  })
}
