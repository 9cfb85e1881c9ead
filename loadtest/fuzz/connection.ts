import { connect } from 'node:net'
import type { Packet } from 'mqtt-packet'
import { connectPacket, encode, mutate, randomPacket, type Version } from './generate.js'
import { Random } from './random.js'

/**
 * One fuzz connection: what it sends is decided by (run seed, connection index) alone, so
 * concurrency and timing do not change it and `--seed S --only I` replays connection I.
 */
export type ConnectionKind = 'session' | 'mutated-connect' | 'no-connect' | 'wrong-version' | 'garbage'

export interface ConnectionPlan {
  readonly index: number
  readonly kind: ConnectionKind
  readonly version: Version
  /** The writes, in order; each holds one or more packets (or garbage). */
  readonly writes: readonly Buffer[]
  readonly packets: number
  /** The first write is a CONNECT: the next ones wait for the broker's answer (bounded). */
  readonly awaitConnack: boolean
  /** Stop reading the socket (a slow reader) instead of consuming what the broker sends. */
  readonly slowReader: boolean
  /** How the connection ends: FIN after the writes, or a reset. */
  readonly ending: 'end' | 'destroy'
}

/** Packets a connection sends after its CONNECT, at most. */
const MAX_PACKETS = 60

export function connectionSeed (seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0
}

export function planConnection (seed: number, index: number): ConnectionPlan {
  const r = new Random(connectionSeed(seed, index))
  const version: Version = r.chance(0.5) ? 5 : 4
  const roll = r.next()
  const kind: ConnectionKind = roll < 0.6 ? 'session' : roll < 0.75 ? 'mutated-connect' : roll < 0.85 ? 'no-connect' : roll < 0.95 ? 'wrong-version' : 'garbage'
  const packets: Buffer[] = []
  const mutationRate = kind === 'session' ? 0.1 : 0.3
  const bodyVersion: Version = kind === 'wrong-version' ? (version === 5 ? 4 : 5) : version

  if (kind === 'garbage') {
    for (let i = 1 + r.int(8); i > 0; i--) packets.push(r.bytes(1 + r.int(256)))
  } else {
    if (kind !== 'no-connect') {
      const connect = encode(r, connectPacket(r, version), version)
      packets.push(kind === 'mutated-connect' ? mutate(r, connect, encode(r, randomPacket(r, version), version)) : connect)
    }
    let previous = packets[0] ?? Buffer.alloc(0)
    const count = 1 + r.int(MAX_PACKETS)
    for (let i = 0; i < count; i++) {
      const packet: Packet = randomPacket(r, bodyVersion)
      let bytes = encode(r, packet, bodyVersion)
      // a broken packet usually ends the connection: in a session most come towards its end,
      // so the packets before it reach the broker's state machine
      const rate = kind === 'session' ? mutationRate * 3 * (i / count) ** 2 : mutationRate
      if (r.chance(rate)) bytes = mutate(r, bytes, previous)
      packets.push(bytes)
      previous = bytes
    }
    if (r.chance(0.3)) packets.push(encode(r, randomPacket(r, bodyVersion, 'disconnect'), bodyVersion))
  }

  // a valid CONNECT goes first, alone, and its CONNACK is awaited (runConnection): the rest
  // then reaches a connected client's state machine rather than the pre-CONNECT queue
  const awaitConnack = kind === 'session' || kind === 'wrong-version'
  const head = awaitConnack ? packets.shift() : undefined
  // one write, or the stream cut at random places (the parser meets partial packets)
  const stream = Buffer.concat(packets)
  const writes: Buffer[] = head !== undefined ? [head] : []
  if (r.chance(0.6) || stream.length < 2) writes.push(stream)
  else {
    let at = 0
    while (at < stream.length) {
      const size = 1 + r.int(Math.max(1, Math.min(stream.length - at, 512)))
      writes.push(stream.subarray(at, at + size))
      at += size
    }
  }
  return { index, kind, version, writes, awaitConnack, packets: packets.length + (head !== undefined ? 1 : 0), slowReader: r.chance(0.05), ending: r.chance(0.5) ? 'end' : 'destroy' }
}

export interface ConnectionOutcome {
  /** The broker closed the connection before the fuzzer did. */
  readonly closedByBroker: boolean
  readonly bytesReceived: number
}

/** Most time a connection waits for its CONNACK, and for the broker to go quiet at its end. */
const ANSWER_WAIT_MS = 500

/**
 * Sends a plan to the broker at `port`: the writes in order (after the CONNACK when the plan
 * waits for it), then waits until the broker has been quiet for `lingerMs` (at most
 * ANSWER_WAIT_MS) and ends or resets the connection. Resolves once the socket is closed.
 */
export async function runConnection (port: number, plan: ConnectionPlan, lingerMs: number): Promise<ConnectionOutcome> {
  return await new Promise<ConnectionOutcome>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true })
    let closedByBroker = false
    let finishing = false
    let bytesReceived = 0
    let lastData = 0
    let onFirstData: (() => void) | undefined
    const timers: NodeJS.Timeout[] = []
    const later = (ms: number, fn: () => void): void => { timers.push(setTimeout(fn, ms)) }
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      bytesReceived += chunk.length
      lastData = Date.now()
      if (plan.slowReader) socket.pause()
      const first = onFirstData
      onFirstData = undefined
      first?.()
    })
    socket.once('close', () => {
      if (!finishing) closedByBroker = true
      for (const timer of timers) clearTimeout(timer)
      resolve({ closedByBroker, bytesReceived })
    })
    const finish = (): void => {
      finishing = true
      if (plan.ending === 'end') {
        socket.end()
        later(ANSWER_WAIT_MS, () => socket.destroy())
      } else socket.destroy()
    }
    const quiet = (since: number): void => {
      const idle = Date.now() - Math.max(lastData, since)
      if (idle >= lingerMs || Date.now() - since >= ANSWER_WAIT_MS) finish()
      else later(lingerMs - idle, () => quiet(since))
    }
    let i = 0
    const next = (): void => {
      if (socket.destroyed) return
      const chunk = plan.writes[i++]
      if (chunk === undefined) {
        const since = Date.now()
        later(lingerMs, () => quiet(since))
        return
      }
      socket.write(chunk)
      if (i === 1 && plan.awaitConnack) {
        let waited = false
        const go = (): void => { if (!waited) { waited = true; next() } }
        onFirstData = go
        later(ANSWER_WAIT_MS, go)
      } else setImmediate(next)
    }
    socket.once('connect', next)
  })
}
