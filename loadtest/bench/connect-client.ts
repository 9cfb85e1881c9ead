import { connect as netConnect, createServer, type Server, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import mqttPacket from 'mqtt-packet'

/**
 * Raw-socket MQTT 3.1.1 devices for the CONNECT cost benchmark (connect-cost.ts): each device is
 * one socket, mqtt-packet encodes and parses; nothing else runs in the generator, so its own
 * cost does not limit the brokers. Loopback only, every wait bounded.
 */

export interface DeviceOptions {
  readonly port: number
  readonly clientId: string
  /** CleanSession flag (false: a session that outlives the connection). */
  readonly clean: boolean
  /** Subscribes to this topic (QoS 1) after the CONNACK when set. */
  readonly subscribe?: string
  /** 127.0.0.x source address (spreads ephemeral ports). */
  readonly localAddress?: string
  readonly timeoutMs: number
}

export interface Device {
  readonly sessionPresent: boolean
  /** CONNECT written → CONNACK read, ms. */
  readonly connackMs: number
  /** performance.now() when the CONNECT was written and when its CONNACK was read. */
  readonly sentAt: number
  readonly ackAt: number
  /** Resolves on each PUBLISH the device receives (its topic). */
  onPublish: (fn: (topic: string) => void) => void
  /** One QoS 0 PUBLISH to each of topic(0) … topic(count - 1), waiting for the socket to drain. */
  publishEach: (count: number, topic: (i: number) => string) => Promise<void>
  /** DISCONNECT, then closes the socket. */
  disconnect: () => Promise<void>
  /** Closes the socket without DISCONNECT (a lost link). */
  drop: () => void
  readonly closed: Promise<void>
}

/** Opens a device: TCP connect, CONNECT → CONNACK (return code 0), optional SUBSCRIBE → SUBACK. */
export async function openDevice (opts: DeviceOptions): Promise<Device> {
  const socket = netConnect({ host: '127.0.0.1', port: opts.port, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) })
  socket.setNoDelay(true)
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  const waiting = new Map<string, (packet: mqttPacket.Packet) => void>()
  let publishListener: ((topic: string) => void) | undefined
  parser.on('packet', (packet: mqttPacket.Packet) => {
    if (packet.cmd === 'publish') {
      publishListener?.(packet.topic)
      if (packet.qos === 1 && packet.messageId !== undefined) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: packet.messageId }))
      return
    }
    const resolve = waiting.get(packet.cmd)
    waiting.delete(packet.cmd)
    resolve?.(packet)
  })
  socket.on('data', (chunk) => parser.parse(chunk))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const failure = new Promise<never>((_resolve, reject) => {
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`${opts.clientId}: connection closed`)))
  })
  failure.catch(() => {})
  const expect = async (cmd: string): Promise<mqttPacket.Packet> => {
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        new Promise<mqttPacket.Packet>((resolve) => waiting.set(cmd, resolve)),
        failure,
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${opts.clientId}: no ${cmd} in ${opts.timeoutMs} ms`)), opts.timeoutMs) })
      ])
    } finally {
      clearTimeout(timer)
    }
  }
  try {
    const connack = expect('connack')
    const sent = performance.now()
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: opts.clean, clientId: opts.clientId, keepalive: 600 }))
    const ack = await connack as mqttPacket.IConnackPacket
    const ackAt = performance.now()
    const connackMs = ackAt - sent
    if (ack.returnCode !== 0) throw new Error(`${opts.clientId}: CONNACK return code ${String(ack.returnCode)}`)
    if (opts.subscribe !== undefined) {
      const suback = expect('suback')
      socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: opts.subscribe, qos: 1 }] }))
      await suback
    }
    return {
      sessionPresent: ack.sessionPresent,
      connackMs,
      sentAt: sent,
      ackAt,
      onPublish: (fn) => { publishListener = fn },
      publishEach: async (count, topic) => {
        for (let i = 0; i < count; i++) {
          if (!socket.write(mqttPacket.generate({ cmd: 'publish', topic: topic(i), payload: Buffer.from('x'), qos: 0, retain: false, dup: false }))) {
            await new Promise((resolve) => socket.once('drain', resolve))
          }
        }
      },
      disconnect: async () => {
        socket.end(mqttPacket.generate({ cmd: 'disconnect' }))
        await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, opts.timeoutMs))])
        socket.destroy()
      },
      drop: () => { socket.destroy() },
      closed
    }
  } catch (err) {
    socket.destroy()
    throw err
  }
}

/** Runs `count` tasks with at most `concurrency` in flight; resolves with the failures' messages. */
export async function runPool (count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<string[]> {
  const errors: string[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      try {
        await task(i)
      } catch (err) {
        errors.push((err as Error).message)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return errors
}

/**
 * A TCP relay between one pod and Redis that counts request turns: a turn is a chunk the pod
 * sends after Redis' last reply chunk (commands written while earlier replies are outstanding
 * are pipelined into the same turn). Each turn is time-stamped, so the turns inside a CONNECT →
 * CONNACK window are the round trips that CONNECT waited for (when CONNECTs run one at a time).
 */
export class RedisTurnCounter {
  readonly turns: number[] = []
  /** The command names of each turn (RESP arrays' first element), index-aligned with `turns`. */
  readonly commands: string[] = []
  #server: Server | undefined
  readonly #sockets = new Set<Socket>()

  async listen (redisPort: number): Promise<number> {
    const server = createServer((client) => {
      const upstream = netConnect({ host: '127.0.0.1', port: redisPort })
      upstream.setNoDelay(true)
      client.setNoDelay(true)
      this.#sockets.add(client)
      this.#sockets.add(upstream)
      let awaitingReply = false
      client.on('data', (chunk) => {
        const names = [...chunk.toString('latin1').matchAll(/\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n/g)].map((m) => (m[1] as string).toLowerCase()).join(' ')
        if (!awaitingReply) {
          this.turns.push(performance.now())
          this.commands.push(names)
        } else {
          this.commands[this.commands.length - 1] += ` + ${names}`
        }
        awaitingReply = true
        upstream.write(chunk)
      })
      upstream.on('data', (chunk) => {
        awaitingReply = false
        client.write(chunk)
      })
      const end = (): void => {
        client.destroy()
        upstream.destroy()
        this.#sockets.delete(client)
        this.#sockets.delete(upstream)
      }
      client.on('close', end)
      upstream.on('close', end)
      client.on('error', end)
      upstream.on('error', end)
    })
    this.#server = server
    return await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
  }

  /** Turns that started in [from, to]. */
  between (from: number, to: number): number {
    let n = 0
    for (const t of this.turns) if (t >= from && t <= to) n++
    return n
  }

  /** The turns that started in [from, to], as their command names. */
  commandsBetween (from: number, to: number): string[] {
    return this.turns.flatMap((t, i) => t >= from && t <= to ? [this.commands[i] as string] : [])
  }

  close (): void {
    for (const s of this.#sockets) s.destroy()
    this.#server?.close()
  }
}
