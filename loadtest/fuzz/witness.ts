import mqtt, { type MqttClient } from 'mqtt'

/**
 * Well-behaved clients in the same run as the fuzzer: an mqtt.js publisher and subscriber at
 * QoS 1 (MQTT 5). Every message the broker acknowledged (PUBACK) must reach the subscriber; a
 * connection of either that closes during the run is a failure too.
 */
export interface WitnessReport {
  readonly sent: number
  readonly acknowledged: number
  readonly received: number
  readonly duplicates: number
  readonly lost: number
  readonly unexpectedCloses: number
}

export class Witness {
  readonly #nonce = Math.random().toString(36).slice(2, 10)
  readonly #acked = new Set<number>()
  readonly #received = new Set<number>()
  #duplicates = 0
  #sent = 0
  #closes = 0
  #stopped = false
  #timer: NodeJS.Timeout | undefined
  #pub: MqttClient | undefined
  #sub: MqttClient | undefined

  /** Connects both clients and subscribes; then publishes one message every `intervalMs`. */
  async start (url: string, intervalMs: number): Promise<void> {
    const open = async (clientId: string): Promise<MqttClient> => {
      const client = mqtt.connect(url, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 10_000, keepalive: 30 })
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve())
        client.once('error', reject)
      })
      client.on('close', () => { if (!this.#stopped) this.#closes++ })
      return client
    }
    this.#sub = await open('witness-sub')
    this.#sub.on('message', (_topic, payload) => {
      const [nonce, seq] = payload.toString().split(':')
      if (nonce !== this.#nonce) return
      const n = Number(seq)
      if (this.#received.has(n)) this.#duplicates++
      else this.#received.add(n)
    })
    await this.#sub.subscribeAsync('witness/#', { qos: 1 })
    this.#pub = await open('witness-pub')
    const pub = this.#pub
    this.#timer = setInterval(() => {
      const seq = this.#sent++
      pub.publishAsync(`witness/${seq % 8}`, `${this.#nonce}:${seq}`, { qos: 1 }).then(() => { this.#acked.add(seq) }, () => {})
    }, intervalMs)
  }

  /** Stops publishing, waits (bounded) for every acknowledged message to arrive, closes both. */
  async finish (waitMs: number): Promise<WitnessReport> {
    clearInterval(this.#timer)
    const deadline = Date.now() + waitMs
    // the last publishes' acknowledgements, then their deliveries
    while (Date.now() < deadline && (this.#acked.size < this.#sent || [...this.#acked].some((seq) => !this.#received.has(seq)))) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    this.#stopped = true
    const lost = [...this.#acked].filter((seq) => !this.#received.has(seq)).length
    await Promise.all([this.#pub, this.#sub].map(async (client) => await new Promise<void>((resolve) => {
      if (client === undefined) return resolve()
      client.end(false, {}, () => resolve())
      setTimeout(resolve, 1000).unref()
    })))
    return { sent: this.#sent, acknowledged: this.#acked.size, received: this.#received.size, duplicates: this.#duplicates, lost, unexpectedCloses: this.#closes }
  }
}
