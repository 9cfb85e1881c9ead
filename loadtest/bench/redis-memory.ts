/**
 * Redis memory per persistent session (with 1 and with 10 subscriptions), per retained message
 * and per queued message, on one Redis server and on a (1-master) Redis Cluster: a real
 * `starling serve` pod, real MQTT clients, Redis `INFO memory` (used_memory) before and after
 * each step divided by the count, and `MEMORY USAGE` of one session's keys (docs/scaling.md).
 *
 *   npm run build && node --import tsx loadtest/bench/redis-memory.ts [--sessions 1000] [--retained 5000] [--queued 5000]
 */
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import { REPO, killClusterChildren, startPod, startRedis, type Proc } from './cluster-procs.js'
import { startRedisCluster, stopRedisClusters } from './redis-cluster-start.js'
import { join } from 'node:path'

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    retained: { type: 'string', default: '5000' },
    queued: { type: 'string', default: '5000' },
    payload: { type: 'string', default: '64' },
    dist: { type: 'string', default: join(REPO, 'dist') }
  }
})
const SESSIONS = Number(values.sessions)
const RETAINED = Number(values.retained)
const QUEUED = Number(values.queued)
const PAYLOAD = Buffer.alloc(Number(values.payload), 120)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function used (redis: Redis): Promise<number> {
  await sleep(300)
  const info = await redis.info('memory')
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1])
}

async function connect (port: number, clientId: string, clean: boolean): Promise<MqttClient> {
  const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, clientId, clean, reconnectPeriod: 0, properties: clean ? {} : { sessionExpiryInterval: 86400 } })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
    setTimeout(() => reject(new Error(`${clientId} did not connect`)), 10000)
  })
  return client
}

/** `count` persistent sessions with `subs` subscriptions each, then disconnected (the session stays in Redis). */
async function sessions (port: number, prefix: string, count: number, subs: number): Promise<void> {
  for (let from = 0; from < count; from += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - from) }, async (_, i) => {
      const id = `${prefix}-${from + i}`
      const client = await connect(port, id, false)
      await client.subscribeAsync(Object.fromEntries(Array.from({ length: subs }, (_, s) => [`devices/${id}/cmd/${s}`, { qos: 1 as const }])))
      await client.endAsync()
    }))
  }
}

async function publishAll (client: MqttClient, count: number, topic: (n: number) => string, retain: boolean): Promise<void> {
  for (let from = 0; from < count; from += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - from) }, async (_, i) => await client.publishAsync(topic(from + i), PAYLOAD, { qos: 1, retain })))
  }
}

/** MEMORY USAGE summed over the keys that name the client id (SCAN every master); ids here are [a-z0-9-]. */
async function keysOf (nodes: Redis[], id: string): Promise<{ keys: string[], bytes: number }> {
  const keys: string[] = []
  let bytes = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `*${id}*`, 'COUNT', 1000)
      cursor = next
      for (const key of found) {
        // the id as a whole: `...:<id>`, `{<id>}` or `<id>:...`, not a longer id it begins
        if (!new RegExp(`(^|[:{])${id}($|[}:])`).test(key)) continue
        keys.push(key)
        bytes += Number(await node.memory('USAGE', key, 'SAMPLES', 0))
      }
    } while (cursor !== '0')
  }
  return { keys, bytes }
}

interface Row { layout: string, perSession1: number, perSession10: number, perSub: number, perRetained: number, perQueued: number, oneSession: string }

async function measure (layout: string, redisPorts: number[], redisEnv: Record<string, string>, redisUrl: string): Promise<Row> {
  const nodes = redisPorts.map((port) => new Redis({ host: '127.0.0.1', port }))
  const pod: Proc = await startPod({ id: `mem-${layout.includes('Cluster') ? 'cluster' : 'single'}`, dist: values.dist, redisUrl, receiveMaximum: 100, maxQueued: 1_000_000, env: redisEnv })
  const total = async (): Promise<number> => (await Promise.all(nodes.map(used))).reduce((a, b) => a + b, 0)
  try {
    const m0 = await total()
    await sessions(pod.port, 'mem1', SESSIONS, 1)
    const m1 = await total()
    await sessions(pod.port, 'mem10', SESSIONS, 10)
    const m2 = await total()
    const one1 = await keysOf(nodes, 'mem1-7')
    const one10 = await keysOf(nodes, 'mem10-7')
    const pub = await connect(pod.port, `mem-pub-${layout.includes('Cluster') ? 'cluster' : 'single'}`, true)
    await publishAll(pub, RETAINED, (n) => `sites/${n % 50}/devices/${n}/state`, true)
    const m3 = await total()
    // one offline session with QUEUED messages waiting
    const sub = await connect(pod.port, 'mem-queue', false)
    await sub.subscribeAsync({ 'queue/#': { qos: 1 } })
    await sub.endAsync()
    const m4 = await total()
    await publishAll(pub, QUEUED, (n) => `queue/${n % 100}`, false)
    const m5 = await total()
    await pub.endAsync()
    return {
      layout,
      perSession1: (m1 - m0) / SESSIONS,
      perSession10: (m2 - m1) / SESSIONS,
      perSub: ((m2 - m1) - (m1 - m0)) / SESSIONS / 9,
      perRetained: (m3 - m2) / RETAINED,
      perQueued: (m5 - m4) / QUEUED,
      oneSession: `1 subscription: ${one1.bytes} B in ${one1.keys.length} keys (${one1.keys.sort().join(', ')}); 10 subscriptions: ${one10.bytes} B in ${one10.keys.length} keys (${one10.keys.sort().join(', ')})`
    }
  } finally {
    await pod.stop()
    for (const n of nodes) n.disconnect()
  }
}

async function main (): Promise<void> {
  const rows: Row[] = []
  const standalone = await startRedis('redis')
  rows.push(await measure('one Redis server', [standalone.port], {}, `redis://127.0.0.1:${standalone.port}`))
  await standalone.stop()
  const cluster = await startRedisCluster(1)
  rows.push(await measure('Redis Cluster (1 master)', cluster, { STARLING_REDIS_CLUSTER_NODES: JSON.stringify(cluster.map((port) => `127.0.0.1:${port}`)) }, ''))
  console.log(`\n${SESSIONS} persistent sessions per row (MQTT 5, Session Expiry 1 day, subscriptions \`devices/<id>/cmd/<n>\` QoS 1), ${RETAINED} retained and ${QUEUED} queued messages of ${PAYLOAD.length} B; Redis used_memory before/after, bytes per item\n`)
  console.log('| layout | per session, 1 subscription | per session, 10 subscriptions | per extra subscription | per retained message | per queued message |')
  console.log('|---|--:|--:|--:|--:|--:|')
  for (const r of rows) console.log(`| ${r.layout} | ${Math.round(r.perSession1)} | ${Math.round(r.perSession10)} | ${Math.round(r.perSub)} | ${Math.round(r.perRetained)} | ${Math.round(r.perQueued)} |`)
  console.log('\nOne session\'s keys (MEMORY USAGE):\n')
  for (const r of rows) console.log(`- ${r.layout}: ${r.oneSession}`)
}

const stop = (): void => { stopRedisClusters(); killClusterChildren() }
process.once('SIGINT', () => { stop(); process.exit(130) })
main().then(() => { stop(); process.exit(0) }, (err: unknown) => { console.error(err); stop(); process.exit(1) })
