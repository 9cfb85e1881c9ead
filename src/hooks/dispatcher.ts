import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { isStarlingError, StarlingError } from '../errors.js'
import type { HookErrorKind, HookMetrics } from '../metrics/hooks.js'
import type { BrokerRecord } from '../tenancy/types.js'
import { CircuitBreaker } from './breaker.js'
import { parseAnswer, type HookMessage, type HookResult, type UNCHANGED } from './wire.js'

/** What became of one message sent to the hook. */
export type HookOutcome =
  | { readonly kind: 'answered', readonly result: HookResult | typeof UNCHANGED | undefined }
  | { readonly kind: 'refused' }
  | { readonly kind: 'failed', readonly error: HookErrorKind }

export interface HookTuning {
  readonly timeoutMs: number
  readonly batchSize: number
  readonly lingerMs: number
  readonly concurrency: number
  readonly maxPending: number
  readonly breakerFailures: number
  readonly breakerOpenMs: number
}

/** Signs bytes with the broker's newest Ed25519 key (TokenAuthority.sign). */
export type Signer = (broker: BrokerRecord, data: Uint8Array) => Promise<Uint8Array>

interface Pending {
  readonly message: HookMessage
  readonly enqueuedAt: number
  readonly settle: (outcome: HookOutcome) => void
}

/** A failed request: STARLING_ERR_HOOK_FAILED whose `cause` is the kind (the metric label). */
function batchFailure (kind: HookErrorKind, detail: string): StarlingError {
  return new StarlingError('STARLING_ERR_HOOK_FAILED', [`${kind}: ${detail}`], { cause: kind })
}

function failureKind (err: unknown): HookErrorKind {
  return isStarlingError(err, 'STARLING_ERR_HOOK_FAILED') ? err.cause as HookErrorKind : 'network'
}

/**
 * One broker's hook on this pod: messages queue in arrival order, leave in batches of at most
 * `batchSize` (after at most `lingerMs`), with at most `concurrency` requests in flight over
 * kept-alive connections (node:http's keep-alive agent). While every slot is
 * busy, arrivals accumulate into the next batch: batching grows with the load. A failed request
 * counts towards the circuit breaker.
 */
export class HookDispatcher {
  #broker: BrokerRecord
  #tuning: HookTuning
  readonly #sign: Signer
  readonly #metrics: HookMetrics
  readonly #queue: Pending[] = []
  readonly #breaker: CircuitBreaker
  #inFlight = 0
  #timer: NodeJS.Timeout | undefined
  #scheduled = false
  #closed = false
  #agent: HttpAgent | undefined

  constructor (broker: BrokerRecord, tuning: HookTuning, sign: Signer, metrics: HookMetrics) {
    this.#broker = broker
    this.#tuning = tuning
    this.#sign = sign
    this.#metrics = metrics
    this.#breaker = new CircuitBreaker({
      failures: tuning.breakerFailures,
      openMs: tuning.breakerOpenMs,
      onChange: (open) => this.#metrics.breakerOpen.set(this.#labels(), open ? 1 : 0)
    })
  }

  /** The broker's current record and tuning (its settings may have changed since). */
  update (broker: BrokerRecord, tuning: HookTuning): void {
    this.#broker = broker
    this.#tuning = tuning
  }

  get breakerState (): string { return this.#breaker.state }

  submit (message: HookMessage, settle: (outcome: HookOutcome) => void): void {
    if (this.#closed) { settle({ kind: 'failed', error: 'network' }); return }
    if (this.#queue.length >= this.#tuning.maxPending) {
      this.#metrics.errors.inc({ ...this.#labels(), kind: 'overflow' })
      settle({ kind: 'failed', error: 'overflow' })
      return
    }
    this.#queue.push({ message, enqueuedAt: Date.now(), settle })
    // aedes authorizes all the PUBLISH packets of one read at once, and several connections' reads
    // land in one I/O phase: send after it, so they share batches instead of one request each.
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => { this.#scheduled = false; this.#pump() })
    }
  }

  /** Fails what still waits (the pod is closing); requests in flight finish by their time-out. */
  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    for (const item of this.#queue.splice(0)) item.settle({ kind: 'failed', error: 'network' })
    // Idle kept-alive sockets go now; requests in flight end with their answer or time-out.
    const agent = this.#agent
    if (agent !== undefined) for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy()
  }

  /** Kept-alive connections to the hook, at most `concurrency` (a new agent when it changes). */
  #agentFor (url: string): HttpAgent {
    const https = url.startsWith('https:')
    const agent = this.#agent
    if (agent !== undefined && agent.maxSockets === this.#tuning.concurrency && agent instanceof HttpsAgent === https) return agent
    agent?.destroy()
    const options = { keepAlive: true, maxSockets: this.#tuning.concurrency, scheduling: 'lifo' as const }
    this.#agent = https ? new HttpsAgent(options) : new HttpAgent(options)
    return this.#agent
  }

  #labels (): { namespace: string, broker: string } {
    return this.#metrics.labels(this.#broker)
  }

  #pump (): void {
    const tuning = this.#tuning
    while (this.#queue.length > 0 && this.#inFlight < tuning.concurrency) {
      const head = this.#queue[0] as Pending
      if (tuning.lingerMs > 0 && this.#queue.length < tuning.batchSize) {
        const wait = head.enqueuedAt + tuning.lingerMs - Date.now()
        if (wait > 0) {
          this.#timer ??= setTimeout(() => { this.#timer = undefined; this.#pump() }, wait)
          return
        }
      }
      if (!this.#breaker.allow()) {
        // Open (or its probe is out): the failure policy at once, no request.
        const waiting = this.#queue.splice(0)
        this.#metrics.errors.inc({ ...this.#labels(), kind: 'open' }, 1)
        for (const item of waiting) item.settle({ kind: 'failed', error: 'open' })
        return
      }
      const batch = this.#queue.splice(0, tuning.batchSize)
      this.#inFlight++
      void this.#send(batch).finally(() => {
        this.#inFlight--
        this.#pump()
      })
    }
  }

  async #send (batch: Pending[]): Promise<void> {
    const broker = this.#broker
    const url = broker.onPublish?.url
    const labels = this.#labels()
    const messages = batch.map((item) => item.message)
    const started = performance.now()
    this.#metrics.batches.inc(labels)
    this.#metrics.messages.inc(labels, batch.length)
    let outcomes: (item: Pending) => HookOutcome
    try {
      if (url === undefined) throw batchFailure('network', 'hook removed')
      const body = JSON.stringify(messages)
      // Cloudflare's signature: Ed25519 over the timestamp's text followed by the body, both hex/decimal in headers.
      const timestamp = String(Math.floor(Date.now() / 1000))
      const signature = await this.#sign(broker, new TextEncoder().encode(timestamp + body))
      const answer = await post(this.#agentFor(url), new URL(url), body, timestamp, Buffer.from(signature).toString('hex'), this.#tuning.timeoutMs)
      if (answer.status === 403) {
        // The hook says the publisher is not authorised: 0x87 whatever the failure policy.
        this.#breaker.success()
        this.#metrics.errors.inc({ ...labels, kind: 'refused' })
        outcomes = () => ({ kind: 'refused' })
      } else if (answer.status !== 200) {
        throw batchFailure('status', `status ${answer.status}`)
      } else {
        let map
        try {
          map = parseAnswer(answer.text, messages)
        } catch (err) {
          throw batchFailure('malformed', (err as Error).message)
        }
        this.#breaker.success()
        outcomes = (item) => ({ kind: 'answered', result: map.get(item.message.mid) })
      }
    } catch (err) {
      const kind = failureKind(err)
      this.#breaker.failure()
      this.#metrics.errors.inc({ ...labels, kind })
      outcomes = () => ({ kind: 'failed', error: kind })
    }
    this.#metrics.duration.observe(labels, (performance.now() - started) / 1000)
    for (const item of batch) item.settle(outcomes(item))
  }
}

/** Largest answer read; a longer one fails the batch as malformed. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024

/**
 * One POST over the dispatcher's kept-alive agent. node:http rather than the global fetch:
 * about a quarter of fetch's CPU per request in Node 20 (both keep connections alive), and the
 * agent's maxSockets bounds the connections exactly. The deadline covers the whole answer.
 */
function post (agent: HttpAgent, url: URL, body: string, timestamp: string, signature: string, timeoutMs: number): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    let settled = false
    const fail = (err: StarlingError): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      reject(err)
    }
    const req = send(url, {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-signature-ed25519': signature,
        'x-signature-timestamp': timestamp
      }
    }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > MAX_ANSWER_BYTES) fail(batchFailure('malformed', `answer larger than ${MAX_ANSWER_BYTES} bytes`))
        else chunks.push(chunk)
      })
      res.on('end', () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
      })
      res.on('error', (err) => fail(batchFailure('network', err.message)))
    })
    const timer = setTimeout(() => fail(batchFailure('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs)
    req.on('error', (err) => fail(batchFailure('network', err.message)))
    req.end(body)
  })
}
