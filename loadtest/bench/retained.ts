import { performance } from 'node:perf_hooks'
import mqttPacket from 'mqtt-packet'
import { BenchClient, withTimeout } from './clients.js'

/**
 * Retained-message lookup: load `count` retained topics `ret/<run>/<a>/<b>/v` (a < count/1000,
 * b < 1000) through one port with QoS 1, then on another port time, per filter, a fresh
 * connection's SUBSCRIBE → SUBACK and → the last expected retained message.
 */
export interface RetainedProbe {
  readonly filter: string
  readonly expected: number
  readonly subackMs: number
  /** ms from SUBSCRIBE until `expected` retained messages arrived (NaN if they did not in time). */
  readonly deliveredMs: number
  readonly received: number
}

export interface RetainedResult {
  readonly count: number
  readonly loadSeconds: number
  readonly probes: RetainedProbe[]
}

/** Publishes `count` retained QoS 1 messages, `window` unacknowledged at most; resolves when all are acked. */
async function load (port: number, run: string, count: number, window: number, protocolVersion: 4 | 5, timeoutMs: number): Promise<number> {
  const client = await BenchClient.connect({ port, clientId: `ret-load-${run}`, protocolVersion })
  const win = Math.max(1, Math.min(window, client.serverReceiveMaximum))
  const payload = Buffer.alloc(16, 1)
  let sent = 0
  let id = 1
  const started = performance.now()
  try {
    await withTimeout(new Promise<void>((resolve) => {
      const pump = (): void => {
        if (client.acked >= count) return resolve()
        const n = Math.min(count - sent, win - (sent - client.acked))
        if (n < Math.min(win / 4, count - sent)) return
        const parts: Buffer[] = []
        for (let i = 0; i < n; i++, sent++) {
          const a = Math.floor(sent / 1000)
          const b = sent % 1000
          parts.push(mqttPacket.generate({ cmd: 'publish', topic: `ret/${run}/${a}/${b}/v`, payload, qos: 1, retain: true, dup: false, messageId: id }, { protocolVersion }))
          id = id === 65535 ? 1 : id + 1
        }
        client.socket.write(Buffer.concat(parts))
      }
      client.onAck = pump
      pump()
    }), timeoutMs, `${count} retained publishes to be acked`)
    return (performance.now() - started) / 1000
  } finally {
    await client.close()
  }
}

async function probe (port: number, filter: string, expected: number, protocolVersion: 4 | 5, timeoutMs: number, id: string): Promise<RetainedProbe> {
  const client = await BenchClient.connect({ port, clientId: id, protocolVersion })
  try {
    let received = 0
    let doneAt = Number.NaN
    let resolveAll: () => void = () => {}
    const all = new Promise<void>((resolve) => { resolveAll = resolve })
    client.onPublish = () => {
      received++
      if (received === expected) {
        doneAt = performance.now()
        resolveAll()
      }
    }
    const t0 = performance.now()
    await client.subscribe(filter, 0, timeoutMs)
    const subackMs = performance.now() - t0
    if (expected > 0) await withTimeout(all, timeoutMs, `${expected} retained for ${filter}`).catch(() => {})
    return { filter, expected, subackMs, deliveredMs: doneAt - t0, received }
  } finally {
    await client.close()
  }
}

export async function runRetained (loadPort: number, probePort: number, count: number, window: number, protocolVersion: 4 | 5, timeoutMs: number): Promise<RetainedResult> {
  const run = Date.now().toString(36)
  const loadSeconds = await load(loadPort, run, count, window, protocolVersion, timeoutMs * 4)
  // retained writes land before PUBACK; give a cross-pod cache (if any) a moment anyway
  await new Promise((resolve) => setTimeout(resolve, 500))
  const groups = Math.ceil(count / 1000)
  const filters: Array<[string, number]> = [
    [`ret/${run}/0/7/v`, 1],
    [`ret/${run}/0/7/+`, 1],
    [`ret/${run}/+/7/v`, groups],
    [`ret/${run}/0/#`, Math.min(1000, count)],
    [`ret/${run}/#`, count]
  ]
  const probes: RetainedProbe[] = []
  for (const [i, [filter, expected]] of filters.entries()) {
    probes.push(await probe(probePort, filter, expected, protocolVersion, timeoutMs, `ret-probe-${run}-${i}`))
  }
  return { count, loadSeconds, probes }
}
