import { execSync } from 'node:child_process'
import { cpus } from 'node:os'
import { resolve } from 'node:path'
import { killAllChildren, launchBroker } from './brokers.js'
import { killClusterChildren, REPO, startHaproxy, startPod, startRedis, type Proc } from './cluster-procs.js'
import { busTable, commandsTable, shareAbTable, cpuUsPerMessage, crossLine, crossTable, retainedTable, wildcardTable, type CrossRow } from './cluster-report.js'
import { runCross, type CrossSpec, type CrossTuning } from './cross-scenario.js'
import { runRetained } from './retained.js'
import { runWildcardStep, type WildcardResult } from './wildcard.js'
import { runMain } from './run-main.js'
import { gitCommit, loadNow, writeResults } from './results-json.js'
import { intOption, parseCliOptions } from './cli-options.js'

const USAGE = `usage: npm run bench:cluster -- [options]   (build first: pods run compiled Starling)
  --parts LIST       compare,persistent,shared,wildcard,retained,bus (default all)
  --rounds N         bus: rounds, each target once per round in turn (default 3); shared: with
                     --rounds or --baseline, rounds of plain and group on 3 pods only (A/B mode)
  --warmup N         bus, shared A/B: rounds run first and left out of the figures (default 0): a
                     pod's first ~40,000 messages run before its JIT has compiled the hot path
  --baseline DIR     bus: also run 1 pod + Redis and cross-pod on this compiled Starling (its own
                     Redis and pods), interleaved with the others in every round (A/B, same load);
                     shared: 3 pods of this tree too, plain and group in every round beside --dist's
  --share-kinds L    shared A/B: plain,group (default both; e.g. group alone under a profiler)
  --pod-env LIST     settings for every pod, comma separated NAME=VALUE (e.g. STARLING_SHARE_READ_BATCH=32)
  --pod-node-args=S  node flags for every pod, space separated (e.g. --pod-node-args="--cpu-prof --cpu-prof-dir=/tmp/p")
  --members N        shared: members of the \$share group (default 4)   --publishers N  shared: publishers (default 4)
  --messages N       deliveries per one-to-one / fan-out scenario (default 20000)
  --fan N            fan-out subscribers (default 100)
  --wildcards LIST   distinct wildcard subscriptions per curve step (default 10,1000,10000)
  --wc-messages N    messages per curve step (default 10000)
  --per-conn N       wildcard filters per connection (default 500; keeps connections under ulimit -n)
  --wc-topic KIND    wildcard curve traffic: unrelated (default, xbench/...) or overlap (wc/<run>/x/N:
                     under the filters' first levels, matching none of them)
  --retained N       retained topics for the lookup test (default 100000)
  --window N         QoS 1 publish window (default 100)   --ahead N  end-to-end window (default 1000)
  --timeout S        seconds per scenario (default 60)
  --max-queued N     pods' limits.maxQueuedMessages (default 100000, so no session drops; Starling's default is 1000)
  --dist DIR         compiled Starling to run (default dist; e.g. a snapshot built with tsc --outDir)
  --json PATH        also write the compare/persistent/shared rows as JSON (docs/bench-results/<name>.json, drawn by chart.ts)
  --title TEXT       title of the JSON results (default "npm run bench:cluster")
QoS 1, MQTT 5, 64-byte payloads, loopback only.`

function options (argv: string[]): Record<string, string> {
  return parseCliOptions(argv, USAGE, ['parts', 'messages', 'fan', 'wildcards', 'wc-messages', 'per-conn', 'wc-topic', 'retained', 'window', 'ahead', 'timeout', 'dist', 'max-queued', 'members', 'publishers', 'json', 'title', 'rounds', 'baseline', 'warmup', 'pod-node-args', 'share-kinds', 'pod-env'])
}

function int (o: Record<string, string | boolean>, name: string, fallback: number): number {
  return intOption(o, name, fallback, USAGE, 1)
}

async function main (): Promise<void> {
  const o = options(process.argv.slice(2))
  const startedAt = new Date().toISOString()
  const loadAtStart = loadNow()
  const parts = new Set((o.parts ?? 'compare,persistent,shared,wildcard,retained,bus').split(','))
  const messages = int(o, 'messages', 20_000)
  const fan = int(o, 'fan', 100)
  const dist = resolve(REPO, o.dist ?? 'dist')
  const tune: CrossTuning = {
    protocolVersion: 5,
    payloadBytes: 64,
    window: int(o, 'window', 100),
    aheadLimit: int(o, 'ahead', 1000),
    timeoutMs: int(o, 'timeout', 60) * 1000,
    // long enough to see a 5 s stall rather than stop at it
    settleMs: 8000
  }
  let rev = '?'
  try { rev = execSync('git rev-parse --short HEAD', { cwd: REPO }).toString().trim() } catch {}
  process.stdout.write(`# bench:cluster ${new Date().toISOString()} — ${cpus().length} cores, node ${process.version}, git ${rev}, dist ${dist}, ` +
    `${messages} deliveries/scenario, fan ${fan}, maxQueuedMessages ${o['max-queued'] ?? 100000}, window ${tune.window}, ahead ${tune.aheadLimit}\n`)

  const procs: Proc[] = []
  const stops: Array<() => Promise<void>> = []
  const add = (p: Proc): Proc => { procs.push(p); stops.push(p.stop); return p }
  try {
    const receiveMaximum = Math.max(100, tune.window)
    const maxQueued = int(o, 'max-queued', 100_000)
    const env = Object.fromEntries((o['pod-env'] ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    const nodeArgs = typeof o['pod-node-args'] === 'string' ? o['pod-node-args'].split(' ').filter((a) => a !== '') : []
    const mosq = await launchBroker('mosquitto', { starlingReceiveMaximum: receiveMaximum })
    stops.push(mosq.stop)
    const embedded = add(await startPod({ id: 'embedded', dist, redisUrl: '', receiveMaximum, maxQueued, nodeArgs, env }))
    const redis1 = add(await startRedis('redis-1pod'))
    const c1 = add(await startPod({ id: 'c1-a', dist, redisUrl: `redis://127.0.0.1:${redis1.port}`, receiveMaximum, maxQueued, nodeArgs, env }))
    const redis3 = add(await startRedis('redis-3pods'))
    const pods = await Promise.all(['c3-a', 'c3-b', 'c3-c'].map(async (id) => add(await startPod({ id, dist, redisUrl: `redis://127.0.0.1:${redis3.port}`, receiveMaximum, maxQueued, nodeArgs, env }))))
    const [a, b] = pods
    if (a === undefined || b === undefined) throw new Error('pods missing')
    const haproxy = add(await startHaproxy(pods.map((p) => p.port)))
    const podPorts = pods.map((p) => p.port)
    const podPids = pods.map((p) => p.pid)
    process.stdout.write(procs.map((p) => `${p.name}=pid ${p.pid} port ${p.port}`).join(', ') + `, mosquitto=pid ${mosq.pid} port ${mosq.port}\n`)

    interface Target { name: string, pub: number[], sub: number[], pids: number[], redisPort?: number }
    const one: Target[] = [
      { name: 'mosquitto', pub: [mosq.port], sub: [mosq.port], pids: [mosq.pid] },
      { name: 'starling 1 pod embedded', pub: [embedded.port], sub: [embedded.port], pids: [embedded.pid] },
      { name: 'starling 1 pod + Redis', pub: [c1.port], sub: [c1.port], pids: [c1.pid, redis1.pid], redisPort: redis1.port },
      { name: '3 pods, same pod (A→A)', pub: [a.port], sub: [a.port], pids: [...podPids, redis3.pid], redisPort: redis3.port },
      { name: '3 pods, cross-pod direct (A→B)', pub: [a.port], sub: [b.port], pids: [...podPids, redis3.pid], redisPort: redis3.port },
      { name: '3 pods via HAProxy', pub: [haproxy.port], sub: [haproxy.port], pids: [...podPids, redis3.pid, haproxy.pid], redisPort: redis3.port }
    ]
    const fanTargets: Target[] = [
      one[0], one[1], one[2],
      { name: '3 pods, pub A, subs over A/B/C direct', pub: [a.port], sub: podPorts, pids: [...podPids, redis3.pid], redisPort: redis3.port },
      { name: '3 pods via HAProxy', pub: [haproxy.port], sub: [haproxy.port], pids: [...podPids, redis3.pid, haproxy.pid], redisPort: redis3.port }
    ].filter((t): t is Target => t !== undefined)

    const rows: CrossRow[] = []
    const runAll = async (scenario: string, targets: Target[], shape: Pick<CrossSpec, 'publishers' | 'subscribers' | 'perPublisher' | 'persistent' | 'shareGroup'>): Promise<void> => {
      for (const t of targets) {
        try {
          const result = await runCross({ label: scenario.replace(/\W+/g, '-'), qos: 1, pubPorts: t.pub, subPorts: t.sub, pids: t.pids, ...shape, ...(t.redisPort !== undefined ? { redisPort: t.redisPort } : {}) }, tune)
          const row = { target: t.name, scenario, result }
          rows.push(row)
          process.stdout.write(crossLine(row) + '\n')
        } catch (err) {
          process.stdout.write(`[${t.name}] ${scenario}: FAILED: ${(err as Error).message}\n`)
        }
      }
    }
    const perFan = Math.max(1, Math.round(messages / fan))
    if (parts.has('compare')) {
      await runAll('one-to-one QoS 1, clean', one, { publishers: 1, subscribers: 1, perPublisher: messages, persistent: false })
      await runAll(`fan-out 1→${fan} QoS 1, clean`, fanTargets, { publishers: 1, subscribers: fan, perPublisher: perFan, persistent: false })
    }
    if (parts.has('persistent')) {
      await runAll('one-to-one QoS 1, persistent sub', one, { publishers: 1, subscribers: 1, perPublisher: messages, persistent: true })
      await runAll(`fan-out 1→${fan} QoS 1, persistent subs`, fanTargets, { publishers: 1, subscribers: fan, perPublisher: perFan, persistent: true })
    }
    const shareAb = parts.has('shared') && (o.rounds !== undefined || o.baseline !== undefined)
    if (shareAb) {
      // Issue 16 target 5b: plain 4→1 and group 4→$share/4 on 3 pods, alternating, several rounds,
      // with --baseline's 3 pods in the same rounds; CPU per delivered message (pods + Redis) first.
      const members = int(o, 'members', 4)
      const publishers = int(o, 'publishers', 4)
      const perPublisher = Math.max(1, Math.round(messages / publishers))
      const trees: Array<{ tree: string, pub: number[], pids: number[], redisPort: number }> = [
        { tree: o.dist ?? 'dist', pub: podPorts, pids: [...podPids, redis3.pid], redisPort: redis3.port }
      ]
      if (o.baseline !== undefined) {
        const base = resolve(REPO, o.baseline)
        const rb = add(await startRedis('redis-base-3pods'))
        const bp = await Promise.all(['base-a', 'base-b', 'base-c'].map(async (id) => add(await startPod({ id, dist: base, redisUrl: `redis://127.0.0.1:${rb.port}`, receiveMaximum, maxQueued, nodeArgs, env }))))
        // rows are keyed by tree name: the same directory twice still gives two trees
        trees.unshift({ tree: o.baseline === (o.dist ?? 'dist') ? `${o.baseline} (baseline)` : o.baseline, pub: bp.map((p) => p.port), pids: [...bp.map((p) => p.pid), rb.pid], redisPort: rb.port })
      }
      const kinds = (o['share-kinds'] ?? 'plain,group').split(',').map((k) => k === 'group')
      const rounds: Array<Map<string, CrossRow>> = []
      const warmup = o.warmup === undefined ? 0 : intOption(o, 'warmup', 0, USAGE, 0)
      for (let round = 1 - warmup; round <= int(o, 'rounds', 3); round++) {
        const got = new Map<string, CrossRow>()
        // Alternate which tree goes first, so neither always runs right after the other's load.
        const order = round % 2 === 0 ? [...trees].reverse() : trees
        for (const t of order) {
          for (const group of kinds) {
            const name = `${t.tree} ${group ? 'group' : 'plain'}`
            try {
              const result = await runCross({ label: `share-${round}`, qos: 1, pubPorts: t.pub, subPorts: t.pub, pids: t.pids, redisPort: t.redisPort, publishers, subscribers: group ? members : 1, perPublisher, persistent: false, ...(group ? { shareGroup: 'bench' } : {}) }, tune)
              const row = { target: name, scenario: round < 1 ? `share warm-up ${round + warmup}` : `share round ${round}`, result }
              got.set(name, row)
              process.stdout.write(crossLine(row) + `, ${cpuUsPerMessage(result).toFixed(1)} CPU µs/msg\n`)
            } catch (err) {
              process.stdout.write(`[${name}] share round ${round}: FAILED: ${(err as Error).message}\n`)
            }
          }
        }
        if (round >= 1) rounds.push(got)
      }
      process.stdout.write('\n' + shareAbTable(rounds, trees.map((t) => t.tree)) + '\n')
      process.stdout.write('\nRedis commands per delivered message:\n\n' + commandsTable(rounds.flatMap((r) => [...r.values()])) + '\n')
    }
    if (parts.has('shared') && !shareAb) {
      // Shared subscriptions: P publishers into one $share group of M members (each message to
      // one member), next to the same publishers into one plain subscriber (the same msg/s).
      const members = int(o, 'members', 4)
      const publishers = int(o, 'publishers', 4)
      const perPublisher = Math.max(1, Math.round(messages / publishers))
      const sharedTargets: Target[] = [
        ...[one[1], one[2]].filter((t): t is Target => t !== undefined),
        { name: '3 pods, pubs and members over A/B/C direct', pub: podPorts, sub: podPorts, pids: [...podPids, redis3.pid], redisPort: redis3.port }
      ]
      await runAll(`plain ${publishers}→1 QoS 1`, sharedTargets, { publishers, subscribers: 1, perPublisher, persistent: false })
      await runAll(`group ${publishers}→$share/${members} members QoS 1`, sharedTargets, { publishers, subscribers: members, perPublisher, persistent: false, shareGroup: 'bench' })
    }
    if (parts.has('bus')) {
      // Issue 16 target 1, the bus alone: one-to-one clean QoS 1 on Mosquitto, the embedded pod,
      // one pod + Redis (publisher and subscriber on it) and cross-pod A→B (CPU of every pod and
      // Redis), in turn, several rounds; ratios are taken within a round.
      // cross-pod: the CPU of the two pods at work and Redis (the third pod idles)
      const cross: Target = { name: 'cross-pod A→B (CPU of A, B, Redis)', pub: [a.port], sub: [b.port], pids: [a.pid, b.pid, redis3.pid], redisPort: redis3.port }
      const busTargets = [one[0], one[1], one[2], cross].filter((t): t is Target => t !== undefined)
      if (o.baseline !== undefined) {
        const base = resolve(REPO, o.baseline)
        const rb1 = add(await startRedis('redis-base-1pod'))
        const b1 = add(await startPod({ id: 'base-1', dist: base, redisUrl: `redis://127.0.0.1:${rb1.port}`, receiveMaximum, maxQueued, nodeArgs, env }))
        const rb2 = add(await startRedis('redis-base-2pods'))
        const [ba, bb] = await Promise.all(['base-a', 'base-b'].map(async (id) => add(await startPod({ id, dist: base, redisUrl: `redis://127.0.0.1:${rb2.port}`, receiveMaximum, maxQueued, nodeArgs, env }))))
        if (ba === undefined || bb === undefined) throw new Error('baseline pods missing')
        busTargets.splice(3, 0, { name: 'baseline 1 pod + Redis', pub: [b1.port], sub: [b1.port], pids: [b1.pid, rb1.pid], redisPort: rb1.port })
        busTargets.push({ name: 'baseline cross-pod A→B (CPU of A, B, Redis)', pub: [ba.port], sub: [bb.port], pids: [ba.pid, bb.pid, rb2.pid], redisPort: rb2.port })
      }
      const rounds: Array<Map<string, CrossRow>> = []
      const warmup = o.warmup === undefined ? 0 : intOption(o, 'warmup', 0, USAGE, 0)
      for (let round = 1 - warmup; round <= int(o, 'rounds', 3); round++) {
        const got = new Map<string, CrossRow>()
        for (const t of busTargets) {
          try {
            const result = await runCross({ label: `bus-${round}`, qos: 1, pubPorts: t.pub, subPorts: t.sub, pids: t.pids, publishers: 1, subscribers: 1, perPublisher: messages, persistent: false, ...(t.redisPort !== undefined ? { redisPort: t.redisPort } : {}) }, tune)
            const row = { target: t.name, scenario: round < 1 ? `bus warm-up ${round + warmup}` : `bus round ${round}`, result }
            got.set(t.name, row)
            process.stdout.write(crossLine(row) + `, ${cpuUsPerMessage(result).toFixed(1)} CPU µs/msg\n`)
          } catch (err) {
            process.stdout.write(`[${t.name}] bus round ${round}: FAILED: ${(err as Error).message}\n`)
          }
        }
        if (round >= 1) rounds.push(got)
      }
      process.stdout.write('\n' + busTable(rounds, { mosquitto: one[0]!.name, embedded: one[1]!.name, onePod: one[2]!.name, cross: cross.name }) + '\n')
      if (o.baseline !== undefined) {
        process.stdout.write('\nbaseline (' + o.baseline + ') in the same rounds:\n\n' + busTable(rounds, { mosquitto: one[0]!.name, embedded: one[1]!.name, onePod: 'baseline 1 pod + Redis', cross: 'baseline cross-pod A→B (CPU of A, B, Redis)' }).split('\n').filter((l) => l.startsWith('- ')).join('\n') + '\n')
      }
    }
    if (rows.length > 0) {
      process.stdout.write('\n' + crossTable(rows) + '\n\nRedis commands per delivered message:\n\n' + commandsTable(rows) + '\n')
    }
    if (o.json !== undefined && rows.length > 0) {
      writeResults(o.json, {
        title: o.title ?? 'npm run bench:cluster',
        command: `npm run bench:cluster -- ${process.argv.slice(2).map((a) => (/^[\w.,:/=-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ')}`,
        date: startedAt,
        commit: gitCommit(),
        load: [loadAtStart, loadNow()],
        node: process.version,
        // CPU per message here is every broker-side process of the target (pods, Redis, HAProxy)
        rows: rows.map(({ target, scenario, result: r }) => {
          const usPerMsg = r.unique > 0 ? Number(((r.brokerCpu * r.seconds * 1e6) / r.unique).toFixed(1)) : Number.NaN
          return {
            broker: target,
            scenario,
            protocol: 5 as const,
            shape: scenario,
            qos: 1,
            msgPerSec: Math.round(r.msgPerSec),
            usPerMsg,
            p50Ms: Number(r.p50.toFixed(2)),
            p99Ms: Number(r.p99.toFixed(2)),
            lost: r.lost,
            duplicates: r.duplicates,
            brokerCpu: Number(r.brokerCpu.toFixed(2)),
            generatorCpu: Number.NaN,
            rounds: [{ msgPerSec: Math.round(r.msgPerSec), usPerMsg }]
          }
        })
      })
      process.stdout.write(`\nresults written to ${o.json}\n`)
    }

    if (parts.has('wildcard')) {
      const steps = (o.wildcards ?? '10,1000,10000').split(',').map(Number)
      const curve: WildcardResult[] = []
      for (const count of steps) {
        try {
          const w = await runWildcardStep({ count, podPorts, podPids, redisPort: redis3.port, redisPid: redis3.pid, messages: int(o, 'wc-messages', 10_000), perConnection: int(o, 'per-conn', 500), overlap: o['wc-topic'] === 'overlap', tune })
          curve.push(w)
          process.stdout.write(`[wildcard ${count}] subscribe ${w.subscribeSeconds.toFixed(2)} s, NUMPAT +${w.numpat} after ${w.numpatSeconds.toFixed(1)} s, ${w.channels} emitter channels; ${crossLine({ target: '3 pods', scenario: 'A→B', result: w.run })}; Redis CPU ${w.redisCpuUsPerMsg.toFixed(1)} µs/msg\n`)
        } catch (err) {
          process.stdout.write(`[wildcard ${count}] FAILED: ${(err as Error).message}\n`)
        }
      }
      if (curve.length > 0) process.stdout.write('\n' + wildcardTable(curve) + '\n')
    }

    if (parts.has('retained')) {
      const count = int(o, 'retained', 100_000)
      for (const [name, loadPort, probePort] of [['starling 1 pod embedded', embedded.port, embedded.port], ['3 pods (load on A, lookup on B)', a.port, b.port], ['mosquitto', mosq.port, mosq.port]] as const) {
        try {
          const res = await runRetained(loadPort, probePort, count, tune.window, 5, tune.timeoutMs)
          process.stdout.write('\n' + retainedTable(name, res) + '\n')
        } catch (err) {
          process.stdout.write(`[retained ${name}] FAILED: ${(err as Error).message}\n`)
        }
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
}

const killAll = (): void => {
  killClusterChildren()
  killAllChildren()
}
runMain('bench:cluster', main, killAll)
