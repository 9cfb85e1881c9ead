/**
 * How the cluster bus spreads a fleet's topics over its channels and over Redis Cluster shards
 * (docs/scaling.md, "Balanced routing"). Pure computation, no Redis: the route function
 * (src/cluster/emitter-route.ts), the sharded channel names (src/cluster/keys.ts) and the slot
 * split `redis-cli --cluster create` makes for N masters.
 *
 *   node --import tsx loadtest/bench/route-spread.ts [--channels 64] [--shards 3]
 */
import { parseArgs } from 'node:util'
import { filterSlot, topicSlot, type RouteLayout } from '../../src/cluster/emitter-route.js'
import { clientClaimKey, emitterShardChannel, keyPrefix, outgoingQueueKeys, pluginClientKey, pluginRetainedKey, sessionRecordKey } from '../../src/cluster/keys.js'
import { CLUSTER_SLOTS, keySlot } from '../../src/cluster/slots.js'

export interface Spread {
  readonly topics: number
  /** Channels that carry at least one topic, of `channels`. */
  readonly usedChannels: number
  /** Topics on the busiest channel over the mean per channel. */
  readonly channelPeak: number
  /** Share of the topics per shard. */
  readonly shardShares: readonly number[]
}

/** The master owning a slot when `shards` masters split the slots evenly, as redis-cli does. */
export function shardOfSlot (slot: number, shards: number): number {
  const per = CLUSTER_SLOTS / shards
  for (let s = 0; s < shards; s++) if (slot < Math.round((s + 1) * per)) return s
  return shards - 1
}

export function spread (topics: readonly string[], layout: RouteLayout, shards: number): Spread {
  const perChannel = new Array<number>(layout.channels).fill(0)
  for (const topic of topics) perChannel[topicSlot(topic, layout)]!++
  const shardOfChannel = perChannel.map((_, i) => shardOfSlot(keySlot(emitterShardChannel(i, layout.channels)), shards))
  const perShard = new Array<number>(shards).fill(0)
  perChannel.forEach((n, i) => { perShard[shardOfChannel[i]!]! += n })
  return {
    topics: topics.length,
    usedChannels: perChannel.filter((n) => n > 0).length,
    channelPeak: Math.max(...perChannel) / (topics.length / layout.channels),
    shardShares: perShard.map((n) => n / topics.length)
  }
}

export const LAYOUTS: ReadonlyArray<{ readonly name: string, readonly topics: () => string[], readonly consumer: string }> = [
  { name: '`devices/<id>/telemetry`, 10,000 devices', topics: () => Array.from({ length: 10000 }, (_, i) => `devices/${i}/telemetry`), consumer: '$share/g/devices/+/telemetry' },
  {
    name: '`<tenant>/<site>/<device>/<metric>`, 1 tenant, 2 sites, 2,000 devices, 4 metrics',
    topics: () => Array.from({ length: 2000 }, (_, d) => ['temp', 'hum', 'co2', 'volt'].map((m) => `acme/site${d % 2}/dev${d}/${m}`)).flat(),
    consumer: 'acme/+/+/temp'
  },
  {
    name: '`<tenant>/<site>/<device>/<metric>`, 20 tenants × 5 sites × 100 devices × 4 metrics',
    topics: () => Array.from({ length: 10000 }, (_, d) => ['temp', 'hum', 'co2', 'volt'].map((m) => `t${d % 20}/s${Math.floor(d / 20) % 5}/dev${d}/${m}`)).flat(),
    consumer: 't3/s1/+/temp'
  }
]

/** Per-client and per-topic key families: the share of 10,000 devices' keys on each of `shards` masters. */
export function keySpread (shards: number): Array<{ family: string, shares: number[] }> {
  const ids = Array.from({ length: 10000 }, (_, i) => `device-${i}`)
  const families: Array<[string, (id: string, i: number) => string]> = [
    ['`oq:{<client id>}` (+ `:p`, `:m`, `in:{<client id>}:<packet id>`): session queue, in-flight QoS', (id) => outgoingQueueKeys(id)[0]],
    ['`session:<client id>`: session record', (id) => sessionRecordKey(id)],
    ['`client:<client id>`: stored subscriptions (plugin)', (id) => pluginClientKey(id)],
    ['`clients:claim:<client id>`: client-id claims', (id) => clientClaimKey(id)],
    ['`retained:<topic>`: retained messages, `devices/<id>/state`', (_id, i) => pluginRetainedKey(`devices/${i}/state`)]
  ]
  return families.map(([family, key]) => {
    const per = new Array<number>(shards).fill(0)
    ids.forEach((id, i) => { per[shardOfSlot(keySlot(keyPrefix() + key(id, i)), shards)]!++ })
    return { family, shares: per.map((n) => n / ids.length) }
  })
}

function main (): void {
  const { values } = parseArgs({ options: { channels: { type: 'string', default: '64' }, shards: { type: 'string', default: '3' } } })
  const channels = Number(values.channels)
  const shards = Number(values.shards)
  console.log(`| layout | route levels | channels used (of ${channels}) | busiest channel / mean | share per shard (${shards} masters) | consumer filter listens on |`)
  console.log('|---|---|---|---|---|---|')
  for (const layout of LAYOUTS) {
    const topics = layout.topics()
    for (const levels of [1, 2, 3]) {
      const s = spread(topics, { channels, levels }, shards)
      const listens = filterSlot(layout.consumer.replace(/^\$share\/[^/]+\//, ''), { channels, levels })
      console.log(`| ${layout.name} | ${levels}${levels === 3 ? ' (default)' : ''} | ${s.usedChannels} | ${s.channelPeak.toFixed(2)} | ${s.shardShares.map((x) => `${Math.round(x * 100)}%`).join(' / ')} | \`${layout.consumer}\`: ${listens === 'all' ? 'all channels' : 'one channel'} |`)
    }
  }
  console.log(`\n| key family (10,000 devices) | share per shard (${shards} masters) |`)
  console.log('|---|---|')
  for (const { family, shares } of keySpread(shards)) console.log(`| ${family} | ${shares.map((x) => `${(x * 100).toFixed(1)}%`).join(' / ')} |`)
}

if (import.meta.url === `file://${process.argv[1]}`) main()
