import { DeliveryLedger, readStamp, stampPayload } from '../k6/lib/payload.js'
import { openTcpDevice, wallNow, type TcpDevice } from './devices-conn.js'
import { deviceTopic, openBudgetMs, SAMPLE_CAP, type FromWorker, type Opened, type Subscribe, type ToWorker, type WorkerInit } from './devices-protocol.js'

/**
 * One worker process of the devices harness: holds `count` simulated devices on one loopback
 * source address, each an MqttSession (the k6 scripts' client) on its own TCP socket. Driven by
 * the parent over IPC (devices-protocol.ts); one 1 s timer ticks every session's keep alive.
 */
interface Slot {
  readonly index: number
  readonly port: number
  dev: TcpDevice | null
  ready: boolean
  /** Harness asked for the end (drop/close): not counted as a drop. */
  wanted: boolean
  subAt: number
  gotRetained: boolean
}

// A callback takes the write error (EPIPE) of a parent that closed the channel meanwhile: without
// one it is an unhandled 'error' event on the process.
const send = (m: FromWorker): void => { if (process.connected) process.send?.(m, undefined, undefined, () => {}) }
let init: WorkerInit | undefined
const slots: Slot[] = []
const ledger = new DeliveryLedger()
const latencies: number[] = []
let drops = 0
let connectedNow = 0
let failedTotal = 0
let sentTotal = 0
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

function onMessage (slot: Slot, topic: string, payload: Uint8Array, retain: boolean): void {
  const cfg = init as WorkerInit
  if (topic === deviceTopic(cfg.topicBase, cfg.worker, slot.index, 'state')) {
    if (retain && !slot.gotRetained && slot.subAt > 0) {
      slot.gotRetained = true
      opening?.retainedMs.push(wallNow() - slot.subAt)
      if (opening !== null) opening.retainedOk++
    }
    return
  }
  const stamp = readStamp(payload)
  if (stamp === undefined || stamp.sender !== slot.index) return
  if (ledger.receive(stamp) && latencies.length < SAMPLE_CAP) latencies.push(wallNow() - stamp.sentAt)
}

let opening: Opened | null = null
/**
 * Source ports are handed out in sequence (from a random start, wrapping within 1024-65535): with
 * port 0 the kernel searches the address's bound ports for a free one on every connect, and that
 * search came to cost more CPU than the broker under test (20 s of system time per 8,000 devices).
 * A port taken by someone else fails with EADDRINUSE and the device tries the next one.
 */
let nextPort = 1024 + Math.floor(Math.random() * 64_000)
function takePort (): number {
  const port = nextPort
  nextPort = nextPort >= 65_535 ? 1024 : nextPort + 1
  return port
}

/** Connects every device (paced at `rate`/s, at most maxPending handshakes at once), optionally subscribing. */
async function open (rate: number, clean: boolean, sessionExpirySec: number, subscribe: Subscribe): Promise<Opened> {
  const cfg = init as WorkerInit
  const result: Opened = { cmd: 'opened', connected: 0, failed: 0, errors: [], connectMs: [], perPort: cfg.ports.map(() => 0), sessionPresent: 0, subscribed: 0, retainedOk: 0, retainedMs: [], seconds: 0 }
  opening = result
  if (slots.length === 0) {
    for (let i = 0; i < cfg.count; i++) {
      const index = cfg.first + i
      slots.push({ index, port: i % cfg.ports.length, dev: null, ready: false, wanted: false, subAt: 0, gotRetained: false })
    }
  }
  const started = wallNow()
  let launched = 0
  let pending = 0
  const launch = (slot: Slot, attempt = 0): void => {
    pending++
    slot.ready = false
    slot.wanted = false
    slot.subAt = 0
    slot.gotRetained = false
    let counted = false
    const finish = (ok: boolean, why?: string): void => {
      if (counted) return
      counted = true
      pending--
      if (ok) return
      result.failed++
      failedTotal++
      if (why !== undefined && result.errors.length < 5) result.errors.push(`${cfg.clientPrefix}${slot.index}: ${why}`)
    }
    const dev = openTcpDevice({
      port: cfg.ports[slot.port] as number,
      localAddress: cfg.localAddress,
      localPort: takePort(),
      version: cfg.version,
      clientId: `${cfg.clientPrefix}${slot.index}`,
      keepaliveSec: cfg.keepaliveSec,
      clean,
      sessionExpirySec,
      connectTimeoutMs: cfg.connectTimeoutMs
    }, {
      connack: (p, ms) => {
        if (p.reasonCode !== 0) { finish(false, `CONNACK 0x${p.reasonCode.toString(16)}`); return }
        slot.ready = true
        connectedNow++
        result.connected++
        result.perPort[slot.port] = (result.perPort[slot.port] ?? 0) + 1
        if (p.sessionPresent) result.sessionPresent++
        if (result.connectMs.length < SAMPLE_CAP) result.connectMs.push(ms)
        if (subscribe === 'none') { finish(true); return }
        slot.subAt = wallNow()
        dev.session.subscribe([{ topic: deviceTopic(cfg.topicBase, cfg.worker, slot.index, subscribe), qos: cfg.qos }])
      },
      suback: (_id, codes) => {
        if (codes.every((c) => c < 0x80)) result.subscribed++
        finish(codes.every((c) => c < 0x80), `SUBACK ${codes.join(',')}`)
      },
      message: (p) => onMessage(slot, p.topic, p.payload, p.retain),
      error: (why) => {
        if (!slot.ready && !counted && attempt < 5 && /EADDRINUSE|EADDRNOTAVAIL/.test(why)) {
          counted = true
          pending--
          launch(slot, attempt + 1)
          return
        }
        if (slot.ready) {
          slot.ready = false
          connectedNow--
          if (!slot.wanted) drops++
        }
        finish(false, why)
      }
    })
    slot.dev = dev
  }
  // the broker may accept slower than `rate` (handshakes in flight are bounded): allow 5x the ramp
  const deadline = started + openBudgetMs(cfg.count, rate, cfg.connectTimeoutMs)
  while (wallNow() < deadline && (launched < slots.length || pending > 0)) {
    const due = Math.min(slots.length, Math.floor(((wallNow() - started) / 1000) * rate) + 1)
    while (launched < due && pending < cfg.maxPending) launch(slots[launched++] as Slot)
    await sleep(launched < slots.length ? 10 : 50)
  }
  // never launched, or no answer within the budget
  result.failed += slots.length - launched + pending
  // retained reads arrive with (or right after) the SUBACK: give stragglers a moment
  if (subscribe === 'state') {
    const until = wallNow() + 5000
    while (wallNow() < until && result.retainedOk < result.subscribed) await sleep(50)
  }
  result.seconds = (wallNow() - started) / 1000
  opening = null
  return result
}

/** Every connected device publishes a stamped telemetry message every `intervalMs`, spread evenly in time. */
async function publish (intervalMs: number, durationMs: number): Promise<{ sent: number, acked: number, refused: number }> {
  const cfg = init as WorkerInit
  let sent = 0
  let acked = 0
  let refused = 0
  const ackedBefore = new Map<Slot, number>()
  for (const s of slots) ackedBefore.set(s, 0)
  const started = wallNow()
  let cursor = 0
  let done = 0
  while (wallNow() - started < durationMs) {
    const due = Math.floor(((wallNow() - started) / intervalMs) * slots.length)
    for (; done < due; done++) {
      const slot = slots[cursor++ % slots.length] as Slot
      const dev = slot.dev
      if (dev === null || !slot.ready) continue
      if (cfg.qos > 0 && dev.session.inflight >= dev.session.sendQuota) { refused++; continue }
      const payload = stampPayload(slot.index, ledger.nextSeq(slot.index), wallNow(), cfg.payloadBytes)
      const id = dev.session.publish(deviceTopic(cfg.topicBase, cfg.worker, slot.index, 'telemetry'), payload, cfg.qos)
      if (id === undefined) { refused++; continue }
      sent++
      sentTotal++
    }
    await sleep(20)
  }
  // QoS 1: acks still in flight settle within a moment; count what the broker took
  const until = wallNow() + 5000
  while (wallNow() < until && slots.some((s) => s.ready && (s.dev?.session.inflight ?? 0) > 0)) await sleep(50)
  acked = sent - slots.reduce((n, s) => n + (s.dev?.session.inflight ?? 0), 0)
  return { sent, acked, refused }
}

async function handle (m: ToWorker): Promise<void> {
  switch (m.cmd) {
    case 'open':
      send(await open(m.rate, m.clean, m.sessionExpirySec, m.subscribe))
      return
    case 'publish': {
      const r = await publish(m.intervalMs, m.durationMs)
      send({ cmd: 'published', ...r })
      return
    }
    case 'drop':
      for (const s of slots) {
        s.wanted = true
        s.dev?.drop()
        if (s.ready) { s.ready = false; connectedNow-- }
      }
      send({ cmd: 'dropped' })
      return
    case 'collect':
      send({ cmd: 'collected', held: slots.filter((s) => s.ready && s.dev?.session.state === 'connected').length, drops, delivered: ledger.delivered, duplicates: ledger.duplicates, latencies: latencies.splice(0) })
      return
    case 'close':
      for (const s of slots) {
        s.wanted = true
        s.dev?.close(m.endSession)
      }
      // let the DISCONNECTs leave before the parent ends us
      await sleep(500)
      send({ cmd: 'closed' })
  }
}

process.on('message', (m: WorkerInit | ToWorker) => {
  if ('cmd' in m) {
    handle(m).catch((err: unknown) => {
      process.stderr.write(`devices worker: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(1)
    })
    return
  }
  init = m
  const tick = setInterval(() => {
    const now = wallNow()
    for (const s of slots) s.dev?.session.tick(now)
    send({ cmd: 'progress', connected: connectedNow, failed: failedTotal, sent: sentTotal, received: ledger.delivered })
  }, 1000)
  tick.unref()
  send({ cmd: 'ready' })
})
// the parent went away: nothing left to do
process.on('disconnect', () => process.exit(0))
