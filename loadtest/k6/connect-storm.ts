/**
 * Connect storm: ramp to DEVICES devices at RATE connects/s (spread over VUS VUs, each VU holding
 * its share of the sockets), hold them for DURATION with keep-alive pings, then disconnect.
 *   k6 run -e URL=ws://HOST:8080/mqtt -e DEVICES=20000 -e RATE=500 -e VUS=4 loadtest/k6/connect-storm.ts
 */
import { setTimeout } from 'k6/timers'
import { openDevice, ramp, Ticker, type Device } from './lib/device.ts'
import { deviceCredential, settings as s } from './lib/env.ts'
import { connectThresholds, fleetOptions, touchCounters } from './lib/metrics.ts'
import { vuSlice } from './lib/settings.ts'

export const options = fleetOptions(s, 0, {
  ...connectThresholds(s),
  // Held connections must stay up: no drops, no missed PINGRESP.
  mqtt_connection_drops: ['count==0']
})

export default function (): void {
  touchCounters()
  const { first, count } = vuSlice(__VU, s.vus, s.devices)
  const ticker = new Ticker(s.keepaliveSec)
  const devices: Device[] = []
  ramp(count, s.rate / s.vus, (i) => {
    devices.push(ticker.add(openDevice(s, { credential: deviceCredential(first + i), phase: 'initial' })))
  }, () => {
    setTimeout(() => {
      for (const d of devices) d.close()
      ticker.stop()
    }, s.durationMs)
  })
}
