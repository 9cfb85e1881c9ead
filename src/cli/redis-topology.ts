import { Cluster, Redis } from 'ioredis'
import { emitterChannel, emitterShardChannel } from '../cluster/keys.js'
import type { RedisClient } from '../cluster/redis.js'
import { keySlot } from '../cluster/slots.js'

/**
 * What `starling cluster status` shows of Redis: on Redis Cluster every node (role, slots, which
 * master a replica follows) and per master the bus channels it owns, their subscribers, and its
 * pub/sub load (SPUBLISH and PUBLISH per second, CPU) sampled over `sampleMs`; on one server the
 * same for that server. The load is what decides when to add shards (docs/scaling.md).
 */

export interface RedisNodeStatus {
  readonly address: string
  readonly id: string
  readonly role: 'master' | 'replica'
  /** Replica: address of its master. */
  readonly replicaOf: string | undefined
  /** Slot ranges `[low, high]`, masters only. */
  readonly slots: ReadonlyArray<readonly [number, number]>
  readonly slotCount: number
  readonly failed: boolean
  /** Bus channels (of cluster.messageChannels) in its slots (masters; all of them on one server). */
  readonly busChannels: number
  /** Subscriptions to those channels (one per pod per channel it needs). */
  readonly busSubscribers: number | undefined
  readonly spublishPerSec: number | undefined
  readonly publishPerSec: number | undefined
  /** used_cpu_sys + used_cpu_user over the sample, percent of one core. */
  readonly cpuPercent: number | undefined
}

export interface RedisTopology {
  readonly mode: 'cluster' | 'standalone'
  /** cluster_state (ok / fail), cluster only. */
  readonly state: string | undefined
  readonly slotsAssigned: number | undefined
  readonly sampleMs: number
  readonly nodes: readonly RedisNodeStatus[]
}

interface Sample { cpu: number, spublish: number, publish: number }

function field (text: string, name: string): number {
  const match = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)
  return match?.[1] !== undefined ? Number(match[1]) : 0
}

function calls (stats: string, command: string): number {
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)
  return match?.[1] !== undefined ? Number(match[1]) : 0
}

async function sample (node: Redis): Promise<Sample> {
  const [cpu, stats] = await Promise.all([node.info('cpu'), node.info('commandstats')])
  return { cpu: field(cpu, 'used_cpu_sys') + field(cpu, 'used_cpu_user'), spublish: calls(stats, 'spublish'), publish: calls(stats, 'publish') }
}

function rate (before: Sample | undefined, after: Sample | undefined, ms: number, pick: (s: Sample) => number): number | undefined {
  if (before === undefined || after === undefined || ms <= 0) return undefined
  return Math.max(0, (pick(after) - pick(before)) * 1000 / ms)
}

/** One line of `CLUSTER NODES`: `address` is `host:port` (the cluster bus port dropped). */
export interface ParsedNode { id: string, address: string, role: 'master' | 'replica', masterId: string | undefined, slots: Array<readonly [number, number]>, failed: boolean }

export function parseNodes (text: string): ParsedNode[] {
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => {
    const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.trim().split(' ')
    const flagList = flags.split(',')
    return {
      id,
      address: address.split('@')[0] ?? address,
      role: flagList.includes('master') ? 'master' : 'replica',
      masterId: master === '-' ? undefined : master,
      failed: flagList.includes('fail') || flagList.includes('fail?'),
      slots: slots.filter((s) => !s.startsWith('[')).map((s) => {
        const [low, high] = s.split('-')
        return [Number(low), Number(high ?? low)] as const
      })
    }
  })
}

const owns = (slots: ReadonlyArray<readonly [number, number]>, slot: number): boolean => slots.some(([low, high]) => slot >= low && slot <= high)

export async function readTopology (redis: RedisClient, options: { channels: number, sampleMs: number }): Promise<RedisTopology> {
  if (!(redis instanceof Cluster)) {
    const names = Array.from({ length: options.channels }, (_, i) => emitterChannel(i))
    const before = await sample(redis)
    if (options.sampleMs > 0) await new Promise((resolve) => setTimeout(resolve, options.sampleMs))
    const after = await sample(redis)
    const numsub = await redis.call('PUBSUB', 'NUMSUB', ...names) as Array<string | number>
    let subscribers = 0
    for (let i = 1; i < numsub.length; i += 2) subscribers += Number(numsub[i])
    const { host, port } = redis.options
    return {
      mode: 'standalone',
      state: undefined,
      slotsAssigned: undefined,
      sampleMs: options.sampleMs,
      nodes: [{
        address: `${host ?? '127.0.0.1'}:${port ?? 6379}`, id: '-', role: 'master', replicaOf: undefined, slots: [], slotCount: 0, failed: false,
        busChannels: options.channels, busSubscribers: subscribers,
        spublishPerSec: rate(before, after, options.sampleMs, (s) => s.spublish),
        publishPerSec: rate(before, after, options.sampleMs, (s) => s.publish),
        cpuPercent: rate(before, after, options.sampleMs, (s) => s.cpu * 100)
      }]
    }
  }
  const parsed = parseNodes(await redis.cluster('NODES') as string)
  const info = await redis.cluster('INFO') as string
  const byAddress = new Map<string, Redis>()
  for (const node of redis.nodes('all')) byAddress.set(`${node.options.host ?? ''}:${node.options.port ?? 0}`, node)
  const names = Array.from({ length: options.channels }, (_, i) => emitterShardChannel(i, options.channels))
  const slotOf = names.map((name) => keySlot(name))
  const tryRead = async <T>(read: () => Promise<T>): Promise<T | undefined> => { try { return await read() } catch { return undefined } }
  const before = await Promise.all(parsed.map(async (n) => { const c = byAddress.get(n.address); return c === undefined || n.failed ? undefined : await tryRead(async () => await sample(c)) }))
  if (options.sampleMs > 0) await new Promise((resolve) => setTimeout(resolve, options.sampleMs))
  const after = await Promise.all(parsed.map(async (n) => { const c = byAddress.get(n.address); return c === undefined || n.failed ? undefined : await tryRead(async () => await sample(c)) }))
  const masterAddress = new Map(parsed.map((n) => [n.id, n.address]))
  const nodes = await Promise.all(parsed.map(async (n, i): Promise<RedisNodeStatus> => {
    const owned = n.role === 'master' ? names.filter((_, c) => owns(n.slots, slotOf[c]!)) : []
    const conn = byAddress.get(n.address)
    let subscribers: number | undefined
    if (conn !== undefined && !n.failed && owned.length > 0) {
      subscribers = await tryRead(async () => {
        let total = 0
        // one channel per call: SHARDNUMSUB takes channels of one slot only
        for (const name of owned) total += Number((await conn.call('PUBSUB', 'SHARDNUMSUB', name) as Array<string | number>)[1] ?? 0)
        return total
      })
    }
    return {
      address: n.address,
      id: n.id,
      role: n.role,
      replicaOf: n.masterId !== undefined ? masterAddress.get(n.masterId) ?? n.masterId : undefined,
      slots: n.slots,
      slotCount: n.slots.reduce((sum, [low, high]) => sum + high - low + 1, 0),
      failed: n.failed,
      busChannels: owned.length,
      busSubscribers: n.role === 'master' ? subscribers : undefined,
      spublishPerSec: rate(before[i], after[i], options.sampleMs, (s) => s.spublish),
      publishPerSec: rate(before[i], after[i], options.sampleMs, (s) => s.publish),
      cpuPercent: rate(before[i], after[i], options.sampleMs, (s) => s.cpu * 100)
    }
  }))
  nodes.sort((a, b) => (a.role === b.role ? 0 : a.role === 'master' ? -1 : 1) || a.address.localeCompare(b.address))
  return {
    mode: 'cluster',
    state: /^cluster_state:(\w+)/m.exec(info)?.[1],
    slotsAssigned: field(info, 'cluster_slots_assigned'),
    sampleMs: options.sampleMs,
    nodes
  }
}

function ranges (slots: ReadonlyArray<readonly [number, number]>): string {
  if (slots.length === 0) return '-'
  const text = slots.map(([low, high]) => low === high ? String(low) : `${low}-${high}`)
  return text.length > 3 ? `${text.slice(0, 3).join(',')},+${text.length - 3}` : text.join(',')
}

const num = (n: number | undefined, digits = 0): string => n === undefined ? '-' : n.toFixed(digits)

export function formatTopology (t: RedisTopology): string {
  const masters = t.nodes.filter((n) => n.role === 'master' && n.slotCount > 0)
  const title = t.mode === 'cluster'
    ? `Redis Cluster: state ${t.state ?? '?'}, ${masters.length} shard${masters.length === 1 ? '' : 's'}, ${t.nodes.length - masters.length} other node${t.nodes.length - masters.length === 1 ? '' : 's'}, ${t.slotsAssigned ?? 0}/16384 slots assigned (sharded pub/sub)`
    : 'Redis: one server (plain pub/sub)'
  const header = ['NODE', 'ROLE', 'SLOTS', 'BUS CHANNELS', 'SUBSCRIPTIONS', 'SPUBLISH/S', 'PUBLISH/S', 'CPU%']
  const rows = t.nodes.map((n) => [
    n.address,
    n.failed ? `${n.role} (failed)` : n.role === 'replica' ? `replica of ${n.replicaOf ?? '?'}` : n.role,
    n.role === 'master' && t.mode === 'cluster' ? `${ranges(n.slots)} (${n.slotCount})` : '-',
    n.role === 'master' ? String(n.busChannels) : '-',
    num(n.busSubscribers),
    num(n.spublishPerSec),
    num(n.publishPerSec),
    num(n.cpuPercent, 1)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [title, line(header), ...rows.map(line)].join('\n') + '\n'
}
