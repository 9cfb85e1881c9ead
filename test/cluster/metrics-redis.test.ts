import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { collect, connectClient, endClient, persistentSession, waitFor } from '../helpers/clients.js'
import { promqlMetricNames, scrape, scrapeText, startMetricsNode, value, type Sample } from '../helpers/metrics.js'
import { startRedis } from '../helpers/redis.js'

// Cluster mode /metrics: Redis command latency and errors, connection state, the store gauges
// read from Redis; and every metric the Grafana dashboard and the alert rules use is exported.

const REPO = join(import.meta.dirname, '..', '..')

/** Series made by the shared-subscription code (src/groups), registered once groups exist. */
const SHARE_METRICS = [
  'starling_share_messages_enqueued_total',
  'starling_share_messages_delivered_total',
  'starling_share_messages_redelivered_total',
  'starling_share_messages_dropped_total',
  'starling_share_pending_messages',
  'starling_share_lag_messages'
]
/** Made by Prometheus for every scrape target, not by Starling. */
const PROMETHEUS_SERIES = ['up']

async function scrapeUntil (httpPort: number, predicate: (samples: Sample[]) => boolean, what: string): Promise<Sample[]> {
  let samples: Sample[] = []
  const deadline = Date.now() + 8000
  while (Date.now() < deadline) {
    samples = await scrape(httpPort)
    if (predicate(samples)) return samples
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.fail(`timed out waiting for ${what}: ${JSON.stringify(samples.filter((s) => s.name.startsWith('starling_redis_connected') || s.name.includes('queue') || s.name.includes('retained')))}`)
}

/** Every PromQL expression of the dashboard (targets, variable queries) and of the alert rules. */
function deployExpressions (): Array<{ where: string, expr: string }> {
  const out: Array<{ where: string, expr: string }> = []
  const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/starling.json'), 'utf8')) as {
    panels: Array<{ title: string, targets?: Array<{ expr: string }> }>
    templating: { list: Array<{ name: string, type: string, query?: string | { query: string } }> }
  }
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) out.push({ where: `dashboard panel "${panel.title}"`, expr: target.expr })
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query' || variable.query === undefined) continue
    out.push({ where: `dashboard variable ${variable.name}`, expr: typeof variable.query === 'string' ? variable.query : variable.query.query })
  }
  const rules = parse(readFileSync(join(REPO, 'deploy/prometheus/alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> }
  for (const group of rules.groups) {
    for (const rule of group.rules) out.push({ where: `alert ${rule.alert}`, expr: rule.expr })
  }
  return out
}

/** Names a scrape exports: sample names, and names declared by `# TYPE` (labelled series that have not happened yet). */
function exported (text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)/.exec(line)
    if (typed !== null) {
      const [, name, type] = typed as unknown as [string, string, string]
      names.add(name)
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix)
      if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix)
    } else if (line !== '' && !line.startsWith('#')) {
      names.add(line.replace(/[{ ].*$/, ''))
    }
  }
  return names
}

test('Redis series: command latency, errors and connection state; store gauges from Redis', async (t) => {
  const redis = await startRedis(t)
  const { url, httpPort } = await startMetricsNode(t, { nodeId: 'redis-metrics', 'redis.url': redis.url })

  const offline = await connectClient(t, url, persistentSession(5, 'offline-r'))
  await offline.subscribeAsync('q/#', { qos: 1 })
  await endClient(offline)
  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'sub-r' })
  const got = collect(sub)
  await sub.subscribeAsync('m/#', { qos: 1 })
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'pub-r' })
  await pub.publishAsync('m/a', 'live', { qos: 1 })
  await pub.publishAsync('m/b', 'kept', { qos: 1, retain: true })
  for (let i = 0; i < 3; i++) await pub.publishAsync('q/x', `queued-${i}`, { qos: 1 })
  await waitFor(() => got.length === 2, 5000, 'the live deliveries through Redis')

  const samples = await scrapeUntil(httpPort, (s) => value(s, 'starling_offline_queue_messages') === 3 && value(s, 'starling_retained_messages') === 1, 'the store gauges')
  for (const role of ['persistence', 'publish', 'subscribe', 'registry']) {
    assert.equal(value(samples, 'starling_redis_connected', { role }), 1, `${role} connection ready`)
  }
  assert.ok(value(samples, 'starling_redis_command_duration_seconds_count', { role: 'publish', class: 'pubsub' }) >= 2, 'PUBLISH of each message to the other pods')
  assert.ok(value(samples, 'starling_redis_command_duration_seconds_count', { role: 'persistence' }) > 0)
  assert.ok(value(samples, 'starling_redis_command_duration_seconds_sum', { role: 'persistence' }) > 0)
  assert.equal(value(samples, 'starling_redis_command_errors_total'), 0)
  assert.equal(value(samples, 'starling_sessions'), 1)
  assert.equal(value(samples, 'starling_delivery_latency_seconds_count'), 2, 'the two live deliveries, timed through the Redis emitter')

  // An error reply: the retained hash replaced by a string makes the scrape's HLEN fail.
  await redis.cli(['SET', 'starling:v1:retained', 'not-a-hash'])
  const failed = await scrapeUntil(httpPort, (s) => value(s, 'starling_redis_command_errors_total', { class: 'read', role: 'persistence' }) >= 1, 'a command error')
  assert.equal(value(failed, 'starling_retained_messages'), 1, 'a failed read keeps the last value')
  await redis.cli(['DEL', 'starling:v1:retained'])

  // Redis goes away: every connection reports down, errors and reconnects count; then it is back.
  const connected = (s: Sample[]): number[] => s.filter((x) => x.name === 'starling_redis_connected').map((x) => x.value)
  await redis.stop()
  await scrapeUntil(httpPort, (s) => connected(s).every((v) => v === 0) && value(s, 'starling_redis_reconnects_total') > 0 && value(s, 'starling_redis_connection_errors_total') > 0, 'the connections to drop')
  await redis.start()
  await scrapeUntil(httpPort, (s) => connected(s).length >= 4 && connected(s).every((v) => v === 1), 'the connections to come back')
})

test('Redis Cluster: commands through the Cluster client are measured; retained and queued counts from the index and queues', async (t) => {
  const redis = await startRedis(t, { cluster: true })
  const { url, httpPort } = await startMetricsNode(t, { nodeId: 'cluster-metrics', 'redis.cluster.nodes': [`127.0.0.1:${redis.port}`] })
  const offline = await connectClient(t, url, persistentSession(4, 'offline-c'))
  await offline.subscribeAsync('q/#', { qos: 1 })
  await endClient(offline)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'pub-c' })
  await pub.publishAsync('r/1', 'kept', { qos: 1, retain: true })
  await pub.publishAsync('r/2', 'kept', { qos: 0, retain: true })
  for (let i = 0; i < 2; i++) await pub.publishAsync('q/x', `queued-${i}`, { qos: 1 })
  const samples = await scrapeUntil(httpPort, (s) => value(s, 'starling_offline_queue_messages') === 2 && value(s, 'starling_retained_messages') === 2, 'the store gauges')
  assert.equal(value(samples, 'starling_sessions'), 1)
  assert.ok(value(samples, 'starling_redis_command_duration_seconds_count', { role: 'persistence' }) > 0)
  assert.ok(value(samples, 'starling_redis_command_duration_seconds_count', { role: 'publish', class: 'pubsub' }) >= 4)
  for (const sample of samples.filter((s) => s.name === 'starling_redis_connected')) assert.equal(sample.value, 1, `${sample.labels.role} ready`)
})

test('every metric of the Grafana dashboard and the alert rules is exported on /metrics', async (t) => {
  const redis = await startRedis(t)
  const { url, httpPort } = await startMetricsNode(t, { nodeId: 'deploy-metrics', 'redis.url': redis.url })

  // A shared subscription, if the broker grants it: then the share-group series must be exported.
  const member = await connectClient(t, url, { protocolVersion: 5, clientId: 'share-member' })
  const granted = await member.subscribeAsync('$share/g1/s/#', { qos: 1 })
  const shareWorks = granted.every((g) => g.qos < 0x80)
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'deploy-pub' })
  await pub.publishAsync('s/x', 'for the group', { qos: 1 })
  await pub.publishAsync('m/x', 'x', { qos: 0 })

  const text = await scrapeText(httpPort)
  const names = exported(text)
  const groupSources = readdirSync(join(REPO, 'src/groups')).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(REPO, 'src/groups', f), 'utf8')).join('\n')
  if (!shareWorks) t.diagnostic('$share subscriptions are refused by this build: the share-group series are checked against src/groups instead')

  const expressions = deployExpressions()
  assert.ok(expressions.length > 30, 'the dashboard and the rules have expressions')
  const used = new Set<string>()
  for (const { where, expr } of expressions) {
    const metrics = promqlMetricNames(expr)
    assert.ok(metrics.length > 0, `${where}: no metric in ${expr}`)
    for (const name of metrics) {
      used.add(name)
      if (PROMETHEUS_SERIES.includes(name)) continue
      if (SHARE_METRICS.includes(name) && !shareWorks) {
        assert.ok(groupSources.includes(`'${name}'`), `${where}: ${name} is not defined in src/groups`)
        continue
      }
      assert.ok(names.has(name), `${where}: ${name} is not exported on /metrics`)
    }
  }
  // The alerts and panels are all there.
  for (const name of ['up', 'starling_redis_command_errors_total', 'starling_redis_connected', 'starling_connects_refused_total', 'starling_share_lag_messages', 'starling_offline_queue_messages', 'starling_nodejs_eventloop_lag_p99_seconds', 'starling_delivery_latency_seconds_bucket', 'starling_process_cpu_seconds_total', 'starling_process_resident_memory_bytes']) {
    assert.ok(used.has(name), `the dashboard or the alerts use ${name}`)
  }
})
