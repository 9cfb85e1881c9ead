import { performance } from 'node:perf_hooks'
import mqttPacket from 'mqtt-packet'
import type { BenchClient } from './clients.js'
import { writeStamp } from './payload.js'

/**
 * One publishing client: pre-generated PUBLISH template, batched writes, bounded windows.
 *  - QoS 1: at most `window` PUBLISHes without PUBACK (never above the server's Receive Maximum).
 *  - both QoS: at most `aheadLimit` messages ahead of what subscribers have received (end-to-end
 *    window; the scenario splits its total over the publishers), so queues stay bounded and
 *    latency measures the broker rather than a backlog.
 */
export interface PublisherOptions {
  readonly index: number
  readonly topic: string
  readonly qos: 0 | 1
  readonly count: number
  readonly payloadBytes: number
  readonly window: number
  readonly aheadLimit: number
  /** Deliveries of this publisher's messages so far, divided by the subscriber count. */
  readonly delivered: () => number
}

export class Publisher {
  sent = 0
  /** Extra end-to-end credit granted when deliveries stall (messages lost); counted, not hidden. */
  stallCredit = 0
  readonly window: number
  #template: Buffer
  #idOffset: number
  #payloadOffset: number
  #nextId = 1
  #waitingDrain = false
  /** Smallest batch worth a write while messages are still outstanding (a tenth of the tighter window). */
  readonly #batchMin: number

  constructor (readonly client: BenchClient, readonly opts: PublisherOptions) {
    this.window = Math.max(1, Math.min(opts.window, client.serverReceiveMaximum))
    this.#batchMin = Math.max(1, Math.floor(Math.min(opts.qos === 1 ? this.window : Infinity, opts.aheadLimit) / 10))
    this.#template = mqttPacket.generate({
      cmd: 'publish',
      topic: opts.topic,
      payload: Buffer.alloc(opts.payloadBytes),
      qos: opts.qos,
      retain: false,
      dup: false,
      ...(opts.qos > 0 ? { messageId: 1 } : {})
    }, { protocolVersion: client.protocolVersion })
    this.#payloadOffset = this.#template.length - opts.payloadBytes
    // QoS 1 packet id sits just before the payload (v3.1.1) or before the 1-byte empty property length (v5)
    this.#idOffset = this.#payloadOffset - 2 - (client.protocolVersion === 5 ? 1 : 0)
    client.socket.on('drain', () => {
      this.#waitingDrain = false
    })
  }

  get done (): boolean {
    return this.sent >= this.opts.count && (this.opts.qos === 0 || this.client.acked >= this.opts.count)
  }

  /** How many more may go out right now. */
  allowance (): number {
    if (this.#waitingDrain || this.client.closed) return 0
    let allowed = this.opts.count - this.sent
    if (this.opts.qos === 1) allowed = Math.min(allowed, this.window - (this.sent - this.client.acked))
    allowed = Math.min(allowed, this.opts.aheadLimit + this.stallCredit - (this.sent - this.opts.delivered()))
    return Math.max(0, Math.floor(allowed))
  }

  /**
   * Sends what the windows allow as one write; returns how many went out. While messages are
   * outstanding it waits for at least a tenth of the window: a broker that acks (or delivers)
   * one message per segment would otherwise get one write — one syscall — per message back.
   */
  pump (): number {
    const n = this.allowance()
    if (n === 0) return 0
    const outstanding = this.opts.qos === 1 ? this.sent - this.client.acked : this.sent - this.opts.delivered()
    if (n < this.#batchMin && n < this.opts.count - this.sent && outstanding > 0 && this.stallCredit === 0) return 0
    const len = this.#template.length
    const buf = Buffer.allocUnsafe(n * len)
    const now = performance.now()
    for (let i = 0; i < n; i++) {
      const base = i * len
      this.#template.copy(buf, base)
      if (this.opts.qos === 1) {
        buf.writeUInt16BE(this.#nextId, base + this.#idOffset)
        this.#nextId = this.#nextId === 65535 ? 1 : this.#nextId + 1
      }
      writeStamp(buf, base + this.#payloadOffset, this.opts.index, this.sent + i, now)
    }
    this.sent += n
    if (!this.client.socket.write(buf)) this.#waitingDrain = true
    return n
  }
}
