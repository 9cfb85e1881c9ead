import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import { freePort, REPO } from './cluster-procs.js'

/**
 * The persistent-session queue alone (src/cluster/outgoing-store.ts of one or more compiled
 * trees), in this process against one redis-server: per message enqueue → sent with a packet id
 * → PUBACK, in windows of W, trees alternated for R rounds. Prints this process' CPU and Redis'
 * CPU (INFO cpu) per message, per round and the median: what a change to the store costs without
 * the bus, aedes and the machine's other jobs in the figure.
 *   node --import tsx loadtest/bench/queue-store.ts N W R DIST...   (e.g. 20000 100 5 .tmp/dist-base dist)
 */

interface Store {
  enqueue (subs: ReadonlyArray<{ clientId: string }>, packet: object): Promise<void>
  update (client: { id: string }, packet: object): Promise<void>
  clear (client: { id: string }, packet: { messageId: number }): Promise<unknown>
}
type StoreClass = new (options: { conn: Redis, cluster: boolean }) => Store

const [nArg = '20000', wArg = '100', rArg = '5', ...dists] = process.argv.slice(2)
const N = Number(nArg)
const W = Number(wArg)
const R = Number(rArg)
if (dists.length === 0 || ![N, W, R].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('usage: node --import tsx loadtest/bench/queue-store.ts N W R DIST...\n')
  process.exit(2)
}
const port = await freePort()
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
process.on('exit', () => server.kill('SIGKILL'))
const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
admin.on('error', () => {})
for (let i = 0; i < 100 && admin.status !== 'ready'; i++) {
  try { await admin.connect() } catch { await new Promise((resolve) => setTimeout(resolve, 100)) }
}
const trees: Array<{ dist: string, store: Store, pod: number[], redis: number[] }> = []
for (const dist of dists) {
  const { OutgoingStore } = await import(pathToFileURL(resolve(REPO, dist, 'cluster', 'outgoing-store.js')).href) as { OutgoingStore: StoreClass }
  const conn = new Redis({ port, host: '127.0.0.1', keyPrefix: 'bench:', enableAutoPipelining: true })
  trees.push({ dist, store: new OutgoingStore({ conn, cluster: false }), pod: [], redis: [] })
}
const payload = Buffer.alloc(64, 7)
let counter = 0

async function run (store: Store, id: string, n: number): Promise<void> {
  const client = { id }
  for (let i = 0; i < n; i += W) {
    const packets = Array.from({ length: W }, () => ({ cmd: 'publish', brokerId: 'b8c1f0aa-7a52-4f0e-9a64-0e1e1b7a9c11', brokerCounter: ++counter, topic: 'xbench/persistent-1/mj3k2', payload, qos: 1, retain: false, dup: false }))
    await Promise.all(packets.map(async (p) => await store.enqueue([{ clientId: id }], p)))
    await Promise.all(packets.map(async (p, j) => await store.update(client, { ...p, messageId: j + 1 })))
    await Promise.all(packets.map(async (_p, j) => await store.clear(client, { messageId: j + 1 })))
  }
}

async function redisCpu (): Promise<number> {
  const info = await admin.info('cpu')
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1])
  return field('used_cpu_sys') + field('used_cpu_user')
}

for (const tree of trees) await run(tree.store, `warm-${tree.dist}`, Math.min(N, 10_000))
for (let round = 0; round < R; round++) {
  for (const tree of trees) {
    const cpu0 = process.cpuUsage()
    const redis0 = await redisCpu()
    await run(tree.store, `sub-${tree.dist}`, N)
    const cpu = process.cpuUsage(cpu0)
    tree.pod.push((cpu.user + cpu.system) / N)
    tree.redis.push((await redisCpu() - redis0) * 1e6 / N)
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN
for (const tree of trees) {
  const left = await admin.llen(`bench:oq:{sub-${tree.dist}}`)
  process.stdout.write(`${tree.dist}: store ${median(tree.pod).toFixed(2)} µs/msg [${tree.pod.map((x) => x.toFixed(1)).join(' ')}], ` +
    `Redis ${median(tree.redis).toFixed(2)} µs/msg [${tree.redis.map((x) => x.toFixed(1)).join(' ')}], left queued ${left}\n`)
}
process.exit(0)
