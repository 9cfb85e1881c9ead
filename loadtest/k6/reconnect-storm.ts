/**
 * Reconnect storm: devices connect with persistent sessions (clean start 0; MQTT 5 Session Expiry
 * SESSION_EXPIRY), subscribe to their command topic at QOS and hold for DURATION; then all of them
 * drop at once (socket closed without DISCONNECT). While they are away for OFFLINE, a back-end
 * publisher sends one command to each; then all return at RATE. Measured: reconnect success and
 * time (metrics tagged phase:reconnect), Session Present on return [MQTT-3.2.2-2], and delivery
 * of the queued commands (QoS 1/2 messages queued for an offline session [MQTT-3.1.2-5]).
 *   k6 run -e URL=ws://HOST:8080/mqtt -e DEVICES=10000 -e RATE=1000 loadtest/k6/reconnect-storm.ts
 */
import { setTimeout } from 'k6/timers'
import { openDevice, ramp, type Device } from './lib/device.ts'
import { backendCredential, deviceCredential, settings as s } from './lib/env.ts'
import { fleetOptions, m } from './lib/metrics.ts'
import { publishWindowed, recordArrival, recordLosses, waitUntil } from './lib/pace.ts'
import { readStamp, stampPayload } from './lib/payload.ts'
import { startVu } from './lib/vu.ts'

const queued = s.qos > 0
export const options = fleetOptions(s, (s.devices / s.rate) * 1000 + s.offlineMs, {
  'mqtt_connect_success{phase:initial}': [`rate>=${s.minConnectSuccess}`],
  'mqtt_connect_success{phase:reconnect}': [`rate>=${s.minConnectSuccess}`],
  'mqtt_connect_time{phase:reconnect}': [`p(95)<${s.p95ConnectMs}`],
  mqtt_session_resumed: [`rate>=${s.minConnectSuccess}`],
  // Queued commands wait out the offline time, so only their delivery ratio is judged, not latency.
  ...(queued ? { mqtt_delivery: [`rate>=${s.minDelivery}`] } : {})
})

export default function (): void {
  const { first, count, base, ticker, ledger } = startVu()
  const devices: Device[] = []
  let connected = 0

  const open = (i: number, phase: string, onReady: (d: Device) => void): Device => {
    const index = first + i
    return ticker.add(openDevice(s, { credential: deviceCredential(index), phase, clean: false, sessionExpirySec: s.sessionExpirySec, onReady }, {
      connack: (p) => { if (phase === 'reconnect' && p.reasonCode === 0) m.sessionResumed.add(p.sessionPresent) },
      message: (p) => {
        const stamp = readStamp(p.payload)
        if (stamp !== undefined && stamp.sender === index) recordArrival(ledger, stamp, false)
      }
    }))
  }

  let onAck: () => void = () => {}
  const publisher = ticker.add(openDevice(s, { credential: backendCredential('commander', 0), phase: 'backend' }, {
    acked: (_id, reason) => { if (reason >= 0x80) m.publishRefused.add(1); onAck() }
  }))

  const finish = (): void => {
    waitUntil(() => ledger.missing === 0, s.drainMs, () => {
      if (queued) recordLosses(ledger)
      // End the persistent sessions so the broker does not keep them for SESSION_EXPIRY.
      for (const d of devices) d.close(true)
      publisher.close()
      ticker.stop()
    })
  }

  const returnAll = (): void => {
    connected = 0
    ramp(count, s.rate / s.vus, (i) => { devices[i] = open(i, 'reconnect', () => { connected++ }) }, () => {
      waitUntil(() => connected >= count, s.connectTimeoutMs, finish)
    })
  }

  const dropAll = (): void => {
    for (const d of devices) d.drop()
    // While the devices are away (and once the broker saw them go), queue one command for each;
    // QoS 0 is not queued for offline sessions, so QoS 0 runs only measure the reconnects.
    setTimeout(() => {
      if (!queued) return
      const command = (i: number): { topic: string, payload: Uint8Array } => {
        const index = first + i
        m.sent.add(1)
        return { topic: `${base}/${index}/cmd`, payload: stampPayload(index, ledger.nextSeq(index), Date.now(), s.payloadBytes) }
      }
      onAck = publishWindowed(publisher.session, count, command, s.qos as 1 | 2, false, () => {})
    }, Math.min(1000, s.offlineMs / 2))
    setTimeout(returnAll, s.offlineMs)
  }

  ramp(count, s.rate / s.vus, (i) => {
    devices[i] = open(i, 'initial', (d) => { d.session.subscribe([{ topic: `${base}/${first + i}/cmd`, qos: s.qos }]) })
  }, () => {
    setTimeout(dropAll, s.durationMs)
  })
}
