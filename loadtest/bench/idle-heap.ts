/**
 * Where the memory of idle connections goes in one `starling serve`: RSS, and V8's heap by space
 * (size and used, from the pod's /metrics), per connection, after N idle MQTT 5 clients connected
 * at a paced rate and held. Optionally writes a heap snapshot of the pod (SIGUSR2) for a diff of
 * two runs with different N (per-object sizes per connection). Loopback only, bounded in count and time.
 *
 *   npm run build
 *   node --import tsx loadtest/bench/idle-heap.ts --n 10000 --rate 400 --hold 30
 *   node --import tsx loadtest/bench/idle-heap.ts --n 10000 --node-args "--heap-growing-percent=0"
 *   node --import tsx loadtest/bench/idle-heap.ts --n 10000 --redis redis://127.0.0.1:6379
 *   # then a persistent-session QoS 1 stream through the pod and RSS while it idles afterwards:
 *   node --import tsx loadtest/bench/idle-heap.ts --n 5000 --redis redis://127.0.0.1:6379 --stream 50000 --after 30
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { BenchClient } from './clients.js'

const { values: o } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '400' },
    hold: { type: 'string', default: '30' },
    'node-args': { type: 'string', default: '' },
    redis: { type: 'string', default: '' },
    dist: { type: 'string', default: 'dist' },
    snapshot: { type: 'boolean', default: false },
    stream: { type: 'string', default: '0' },
    after: { type: 'string', default: '30' },
    help: { type: 'boolean', default: false }
  }
})
if (o.help === true) {
  console.log(`usage: node --import tsx loadtest/bench/idle-heap.ts [--n N (<= 19000)] [--rate CONNECTS/S] [--hold S] [--node-args "FLAGS"] [--redis URL] [--dist DIR] [--snapshot]
  --stream N   after the hold, N QoS 1 messages from a publisher to a persistent-session subscriber (MQTT 5,
               Session Expiry 60 s) on the pod, window 100; then RSS per idle connection every 5 s for --after S seconds
  --snapshot   after the hold, write a heap snapshot of the pod into .tmp/idle-heap/ (V8 runs a full GC first)`)
  process.exit(0)
}
const N = Math.min(19_000, Math.max(1, Number(o.n)))
const rate = Math.max(1, Number(o.rate))
const holdMs = Math.min(600, Math.max(0, Number(o.hold))) * 1000
const streamN = Math.min(1_000_000, Math.max(0, Number(o.stream)))
const afterMs = Math.min(600, Math.max(0, Number(o.after))) * 1000
const nodeArgs = (o['node-args'] ?? '').split(' ').filter((a) => a !== '')
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

const dir = mkdtempSync(join(tmpdir(), 'starling-idle-heap-'))
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STARLING_')))
Object.assign(env, {
  STARLING_MQTT_HOST: '127.0.0.1',
  STARLING_HTTP_HOST: '127.0.0.1',
  STARLING_WS_ENABLED: 'false',
  STARLING_DRAIN_SECONDS: '0',
  STARLING_DATA_DIR: join(dir, 'data'),
  STARLING_SECRET_KEY: 'benchmark pods secret key, at least 32 characters',
  STARLING_AUTH_DEFAULT_BROKER_AUTH_TYPE: 'NONE'
})
const entry = resolve(o.dist ?? 'dist', 'cli', 'index.js')
const snapshotArgs = o.snapshot === true ? ['--heapsnapshot-signal=SIGUSR2'] : []
const redisArgs = o.redis !== '' ? ['--redis-url', o.redis ?? ''] : []
const snapshotDir = resolve('.tmp', 'idle-heap')
if (o.snapshot === true) mkdirSync(snapshotDir, { recursive: true })
const pod = spawn(process.execPath, [...nodeArgs, ...snapshotArgs, entry, 'serve', '--node-id', 'idle-heap', ...redisArgs, '--mqtt-port', '0', '--http-port', '0'],
  { env, cwd: o.snapshot === true ? snapshotDir : dir, stdio: ['ignore', 'pipe', 'inherit'] })
const clients: BenchClient[] = []
const stop = (): void => {
  for (const c of clients) c.socket.destroy()
  pod.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
process.on('SIGINT', () => { stop(); process.exit(130) })

const ports = await new Promise<{ mqtt: number, http: number }>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('pod not ready in 30 s')), 30_000)
  createInterface({ input: pod.stdout }).on('line', (line) => {
    if (!line.includes('starling ready')) return
    const mqtt = /"mqtt@127\.0\.0\.1:(\d+)"/.exec(line)?.[1]
    const http = /"http":(\d+)/.exec(line)?.[1]
    if (mqtt !== undefined && http !== undefined) { clearTimeout(timer); resolve({ mqtt: Number(mqtt), http: Number(http) }) }
  })
  pod.once('exit', (code) => reject(new Error(`pod exited with ${String(code)}`)))
})

/** KB figures of /proc/<pid>/smaps_rollup. */
function smaps (): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of readFileSync(`/proc/${pod.pid ?? 0}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line)
    if (m?.[1] !== undefined) out[m[1]] = Number(m[2])
  }
  return out
}

/** KB figures of V8's heap from the pod's /metrics (prom-client default series). */
async function heap (): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text()
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const space = /^starling_nodejs_heap_space_size_(used|total)_bytes\{space="(\w+)"[^}]*\}\s+(\S+)/.exec(line)
    if (space !== null) out[`${space[2] ?? ''} ${space[1] ?? ''}`] = Number(space[3]) / 1024
    const whole = /^starling_nodejs_(heap_size_used|heap_size_total|external_memory)_bytes(?:\{[^}]*\})?\s+(\S+)/.exec(line)
    if (whole !== null) out[whole[1] ?? ''] = Number(whole[2]) / 1024
  }
  return out
}

/** A QoS 1 stream publisher → persistent subscriber through the pod, then RSS per idle connection while it idles. */
async function streamThenIdle (s0: Record<string, number>, n: number): Promise<void> {
  const rssPer = (): string => (((smaps().Rss ?? 0) - (s0.Rss ?? 0)) / n).toFixed(2)
  const sub = await BenchClient.connect({ port: ports.mqtt, clientId: 'idle-heap-sub', protocolVersion: 5, clean: false, sessionExpiry: 60 })
  clients.push(sub)
  await sub.subscribe('idle-heap/stream', 1)
  const pub = await BenchClient.connect({ port: ports.mqtt, clientId: 'idle-heap-pub', protocolVersion: 5 })
  clients.push(pub)
  let received = 0
  sub.onPublish = () => { received++ }
  const payload = Buffer.alloc(64, 1)
  const started = Date.now()
  const deadline = started + 180_000
  let sent = 0
  while (sent < streamN && Date.now() < deadline) {
    // window 100 publisher-side, 1,000 end to end
    while ((sent - pub.acked >= 100 || sent - received >= 1000) && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
    pub.send({ cmd: 'publish', topic: 'idle-heap/stream', qos: 1, messageId: (sent % 65535) + 1, payload, retain: false, dup: false })
    sent++
  }
  while (received < sent && Date.now() < deadline) await sleep(5)
  const seconds = (Date.now() - started) / 1000
  console.log(`stream: ${received} of ${sent} delivered in ${seconds.toFixed(1)} s (${(received / seconds).toFixed(0)}/s); RSS KB per idle connection at its end ${rssPer()}`)
  const samples: string[] = []
  for (let t = 5000; t <= afterMs; t += 5000) {
    await sleep(5000)
    samples.push(`${t / 1000} s ${rssPer()}`)
  }
  const h = await heap()
  console.log(`after the stream, RSS KB per idle connection: ${samples.join(', ')}; heap then ${((h.heap_size_total ?? 0) / 1024).toFixed(1)} MB size, ${((h.heap_size_used ?? 0) / 1024).toFixed(1)} MB used`)
}

try {
  await sleep(2000)
  const s0 = smaps()
  const h0 = await heap()
  const started = Date.now()
  let inFlight = 0
  let failed = 0
  const deadline = started + (N / rate) * 1000 + 120_000
  for (let i = 0; i < N && Date.now() < deadline; i++) {
    const wait = started + (i * 1000) / rate - Date.now()
    if (wait > 0) await sleep(wait)
    while (inFlight >= 50 && Date.now() < deadline) await sleep(2)
    inFlight++
    BenchClient.connect({ port: ports.mqtt, clientId: `idle-heap-${i}`, protocolVersion: 5, keepalive: 600, timeoutMs: 60_000 })
      .then((c) => { clients.push(c) }, () => { failed++ })
      .finally(() => { inFlight-- })
  }
  while (inFlight > 0 && Date.now() < deadline) await sleep(10)
  const seconds = (Date.now() - started) / 1000
  await sleep(holdMs)
  const s1 = smaps()
  const h1 = await heap()
  const n = clients.length
  const per = (key: string, a: Record<string, number>, b: Record<string, number>): string => (((b[key] ?? 0) - (a[key] ?? 0)) / n).toFixed(2)
  console.log(`${n} idle connections (${failed} failed) in ${seconds.toFixed(1)} s = ${(n / seconds).toFixed(0)}/s, held ${holdMs / 1000} s; pod flags '${nodeArgs.join(' ')}'${o.redis !== '' ? ', cluster mode' : ', embedded'}`)
  console.log(`KB per connection: RSS ${per('Rss', s0, s1)} (anonymous ${per('Anonymous', s0, s1)}), V8 heap size ${per('heap_size_total', h0, h1)}, used ${per('heap_size_used', h0, h1)}, external ${per('external_memory', h0, h1)}`)
  for (const space of ['new', 'old', 'code', 'large_object', 'new_large_object']) {
    if (h1[`${space} total`] === undefined) continue
    console.log(`  ${space.padEnd(16)} size ${per(`${space} total`, h0, h1)} used ${per(`${space} used`, h0, h1)} KB/conn   (whole space: ${((h1[`${space} total`] ?? 0) / 1024).toFixed(1)} MB)`)
  }
  if (streamN > 0) await streamThenIdle(s0, n)
  if (o.snapshot === true) {
    const before = new Set(readdirSync(snapshotDir))
    pod.kill('SIGUSR2')
    // written when its size stops changing (bounded: 3 minutes)
    let file = ''
    let size = -1
    for (let i = 0; i < 180; i++) {
      await sleep(1000)
      file = readdirSync(snapshotDir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot')) ?? ''
      const now = file !== '' ? statSync(join(snapshotDir, file)).size : -1
      if (now > 0 && now === size) break
      size = now
    }
    console.log(`heap snapshot: ${file !== '' ? join(snapshotDir, file) : '(none written in 3 minutes)'}`)
  }
} finally {
  stop()
}
process.exit(0)
