import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Cluster } from 'ioredis'
import { createRedisClient, redisSettings, type RedisSettings } from '../../src/cluster/redis.js'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { keySlot } from '../../src/cluster/slots.js'
import { sleep, waitFor } from '../helpers/clients.js'
import { startRedisCluster, type ClusterNodeInfo, type TestRedisCluster } from '../helpers/redis-cluster.js'
import { testRedisIsCluster } from '../helpers/redis.js'

// Sharded pub/sub and keyed commands while a slot changes hands, against the ioredis client as
// Starling configures it (src/cluster/redis.ts) and our patch to it (patches/ioredis+*.patch):
// - an SSUBSCRIBE sent with a stale slot map is answered MOVED: it must settle (rejected) so the
//   caller can try again, not stay pending (a CONNECT restoring a session waited on it forever);
// - Redis pushes an SUNSUBSCRIBE nobody asked for when the slot leaves its master: it must not be
//   taken as the answer to a command in flight (every later reply then went to the wrong command
//   and one never settled);
// - commands whose first argument is not their key (XGROUP CREATE) are routed by their key even
//   on an auto-pipelined client (a shared subscription's SUBACK failed with a raw MOVED).
// Runs with `npm run test:redis-cluster` (STARLING_TEST_REDIS=cluster).

const skip = !testRedisIsCluster() && 'STARLING_TEST_REDIS=cluster (npm run test:redis-cluster)'
const logger = createLogger('silent', 'sharded-pubsub-test')

/** The settings a pod derives from `redis.cluster.nodes` naming the cluster's nodes. */
function settingsOf (cluster: TestRedisCluster): RedisSettings {
  return redisSettings(loadConfig({ overrides: { redis: { cluster: { nodes: [...cluster.seeds] } } } }).redis)!
}

const ownerOf = (nodes: readonly ClusterNodeInfo[], slot: number): ClusterNodeInfo =>
  nodes.find((n) => n.role === 'master' && n.slots.some(([low, high]) => slot >= low && slot <= high))!

/** Channels (named `<prefix><n>`) in `slot`'s master's first slots, none in `slot` itself. */
function channelsOn (owner: ClusterNodeInfo, count: number, prefix: string, except: number): string[] {
  const out: string[] = []
  for (let n = 0; out.length < count && n < 1000000; n++) {
    const slot = keySlot(`${prefix}${n}`)
    if (slot !== except && owner.slots.some(([low, high]) => slot >= low && slot <= high)) out.push(`${prefix}${n}`)
  }
  return out
}

/** Hands one slot (it holds no keys) from its master to another: Redis then drops its shard channels' subscribers. */
async function moveSlot (cluster: TestRedisCluster, slot: number, to: ClusterNodeInfo): Promise<void> {
  const from = ownerOf(await cluster.topology(), slot)
  await cluster.cli(['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id], to.port)
  await cluster.cli(['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id], from.port)
  await cluster.cli(['CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id], to.port)
  await cluster.cli(['CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id], from.port)
}

/** Polls an asynchronous condition every 200 ms until it holds (bounded). */
async function until (what: string, timeoutMs: number, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await sleep(200)
  }
  throw new Error(`timed out: ${what}`)
}

/** Resolves with 'settled' or 'pending' after `ms`. */
async function settlesWithin (promise: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), ms) })
  const result = await Promise.race([promise.then(() => 'settled' as const, () => 'settled' as const), late])
  clearTimeout(timer)
  return result
}

test('Redis Cluster: sharded pub/sub and keyed commands while a slot moves', { skip }, async (t) => {
  const cluster = await startRedisCluster(t, { masters: 3 })
  const settings = settingsOf(cluster)
  const open = (role: string, options: { pubsub?: boolean, autoPipelining?: boolean } = {}): Cluster => {
    const conn = createRedisClient(settings, { role, nodeId: 'test', logger, ...options }) as Cluster
    conn.on('error', () => {})
    t.after(() => conn.disconnect())
    return conn
  }

  await t.test('an SSUBSCRIBE answered MOVED (stale slot map) settles, and a retry subscribes on the new owner', async () => {
    const sub = open('stale-sub', { pubsub: true })
    const pub = open('stale-pub')
    await waitFor(() => sub.status === 'ready' && pub.status === 'ready', 10000, 'clients ready')
    // one channel subscribed elsewhere, so that the subscriber connections exist before the move
    await sub.ssubscribe('{elsewhere}')
    const channel = 'moved-channel-a'
    const slot = keySlot(channel)
    const nodes = await cluster.topology()
    const target = nodes.find((n) => n.role === 'master' && n !== ownerOf(nodes, slot))!
    await moveSlot(cluster, slot, target)
    // the subscriber still has the old map (its periodic refresh is seconds away): MOVED
    const first = sub.ssubscribe(channel)
    assert.equal(await settlesWithin(first, 3000), 'settled', 'the SSUBSCRIBE answered MOVED settles')
    const got: string[] = []
    sub.on('smessage', (ch: string, message: string) => { if (ch === channel) got.push(message) })
    await until('subscribed on the new owner', 10000, async () => {
      await sub.ssubscribe(channel).catch(() => {})
      return Number(await pub.spublish(channel, 'hello')) > 0
    })
    await waitFor(() => got.includes('hello'), 5000, 'the message on the moved channel')
  })

  await t.test('the SUNSUBSCRIBE Redis pushes when a slot leaves answers no command: every command in flight settles', async () => {
    const sub = open('push-sub', { pubsub: true })
    const pub = open('push-pub')
    await waitFor(() => sub.status === 'ready' && pub.status === 'ready', 10000, 'clients ready')
    const channel = 'moved-channel-b'
    const slot = keySlot(channel)
    await sub.ssubscribe(channel)
    const nodes = await cluster.topology()
    const source = ownerOf(nodes, slot)
    const target = nodes.find((n) => n.role === 'master' && n !== source)!
    // many SSUBSCRIBE/SUNSUBSCRIBE pairs on the same master in flight while the slot leaves it
    const others = channelsOn(source, 200, 'busy-', slot)
    const inFlight: Array<Promise<unknown>> = []
    for (let round = 0; round < 5; round++) {
      for (const other of others) inFlight.push(sub.ssubscribe(other), sub.sunsubscribe(other))
    }
    const moved = moveSlot(cluster, slot, target)
    for (let round = 0; round < 5; round++) {
      for (const other of others) inFlight.push(sub.ssubscribe(other), sub.sunsubscribe(other))
    }
    await moved
    const results = await Promise.all(inFlight.map(async (p) => await settlesWithin(p, 10000)))
    assert.equal(results.filter((r) => r === 'pending').length, 0, `every one of ${inFlight.length} commands settles`)
    // and the moved channel is heard again on its new owner (ioredis re-reads the map)
    const got: string[] = []
    sub.on('smessage', (ch: string, message: string) => { if (ch === channel) got.push(message) })
    await until('the moved channel subscribed again', 10000, async () => Number(await pub.spublish(channel, 'again')) > 0)
    await waitFor(() => got.includes('again'), 5000, 'the message on the moved channel')
  })

  await t.test('XGROUP CREATE on an auto-pipelined client reaches the key\'s master beside other commands', async () => {
    const commands = open('share', { autoPipelining: true })
    await waitFor(() => commands.status === 'ready', 10000, 'client ready')
    const keys = Array.from({ length: 24 }, (_, i) => `xg-test:{g${i}}`)
    // the same event-loop turn: the auto-pipeline batches whatever goes to one master
    const results = await Promise.allSettled(keys.flatMap((key) => [
      commands.xgroup('CREATE', key, 'cg', '$', 'MKSTREAM'),
      commands.zadd(`${key}:z`, 1, 'm')
    ]))
    const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
    assert.deepEqual(failed, [])
    const nodes = await cluster.topology()
    assert.equal(new Set(keys.map((key) => ownerOf(nodes, keySlot(key)).port)).size, 3, 'the keys live on every master')
  })
})
