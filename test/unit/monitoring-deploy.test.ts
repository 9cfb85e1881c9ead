import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parse } from 'yaml'
import { promqlMetricNames } from '../helpers/metrics.js'

// The shape of deploy/grafana/starling.json and deploy/prometheus/alerts.yaml. That every
// metric they use is exported is checked against a live node in test/cluster/metrics-redis.test.ts.

const REPO = join(import.meta.dirname, '..', '..')

interface Rule { alert?: string, record?: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
interface Target { expr: string, datasource?: { uid?: string } }
interface Panel { type: string, title: string, datasource?: { uid?: string }, targets?: Target[], gridPos: { x: number, y: number, w: number, h: number } }
interface Variable { name: string, type: string, query?: unknown, multi?: boolean, includeAll?: boolean }

test('the PromQL tokenizer finds metric names, not functions, labels, keywords or variables', () => {
  assert.deepEqual(promqlMetricNames('histogram_quantile(0.99, sum by (pod, le) (rate(starling_delivery_latency_seconds_bucket{pod=~"$pod"}[$__rate_interval])))'), ['starling_delivery_latency_seconds_bucket'])
  assert.deepEqual(promqlMetricNames('sum(rate(a_total[5m])) by (reason) / ignoring(x) group_left(y) b > bool 1e3 and c offset 1h'), ['a_total', 'b', 'c'])
  assert.deepEqual(promqlMetricNames('absent(up{job="starling", x="sum(bad_total)"} == 1)'), ['up'])
  assert.deepEqual(promqlMetricNames('max by (group) (delta(lag[10m])) >= 0 unless on (group) other:recorded'), ['lag', 'other:recorded'])
  assert.deepEqual(promqlMetricNames('label_values(starling_x_total{pod=~"$pod"}, pod)'), ['starling_x_total'])
  assert.deepEqual(promqlMetricNames('label_values(pod)'), [])
})

test('alerts.yaml is a Prometheus rules file with the issue\'s alerts, each with for, severity and annotations', () => {
  const file = parse(readFileSync(join(REPO, 'deploy/prometheus/alerts.yaml'), 'utf8')) as { groups: Array<{ name: string, rules: Rule[] }> }
  assert.ok(Array.isArray(file.groups) && file.groups.length > 0)
  const alerts = new Map<string, Rule>()
  for (const group of file.groups) {
    assert.equal(typeof group.name, 'string')
    for (const rule of group.rules) {
      assert.equal(typeof rule.alert, 'string', 'alerting rules only')
      assert.ok(!alerts.has(rule.alert as string), `${rule.alert} is defined once`)
      alerts.set(rule.alert as string, rule)
      assert.ok(promqlMetricNames(rule.expr).length > 0, `${rule.alert}: expression reads a metric`)
      assert.match(rule.for ?? '', /^\d+[smh]$/, `${rule.alert}: a for duration`)
      assert.ok(['warning', 'critical'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity warning or critical`)
      assert.ok((rule.annotations?.summary ?? '').length > 10, `${rule.alert}: summary`)
      assert.ok((rule.annotations?.description ?? '').length > 20, `${rule.alert}: description`)
      assert.equal((rule.expr.match(/\(/g) ?? []).length, (rule.expr.match(/\)/g) ?? []).length, `${rule.alert}: balanced parentheses`)
    }
  }
  const uses = (name: string): string[] => [...alerts].filter(([, rule]) => promqlMetricNames(rule.expr).includes(name)).map(([alert]) => alert)
  for (const [what, metric] of [
    ['pod down', 'up'], ['Redis errors', 'starling_redis_command_errors_total'], ['Redis disconnected', 'starling_redis_connected'],
    ['refused connects spike', 'starling_connects_refused_total'], ['share group lag', 'starling_share_lag_messages'],
    ['offline queue growth', 'starling_offline_queue_messages'], ['event-loop lag', 'starling_nodejs_eventloop_lag_p99_seconds']
  ] as const) {
    assert.ok(uses(metric).length > 0, `an alert for ${what} (${metric})`)
  }
  // The cluster-wide gauges are the same on every pod: never summed.
  for (const [alert, rule] of alerts) {
    assert.doesNotMatch(rule.expr, /sum[^(]*\((\s*by\s*\([^)]*\)\s*\()?\s*starling_(offline_queue_messages|retained_messages|sessions|share_lag_messages)\b/, `${alert}: cluster-wide gauges are aggregated with max`)
  }
})

test('the Grafana dashboard has datasource and pod variables and every panel query filters by pod', () => {
  const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/starling.json'), 'utf8')) as { uid: string, title: string, panels: Panel[], templating: { list: Variable[] } }
  assert.equal(typeof dashboard.uid, 'string')
  const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]))
  assert.equal(variables.get('datasource')?.type, 'datasource')
  assert.equal(variables.get('datasource')?.query, 'prometheus')
  const pod = variables.get('pod')
  assert.equal(pod?.type, 'query')
  assert.equal(pod?.multi, true)
  assert.equal(pod?.includeAll, true)

  const titles: string[] = []
  const metrics = new Set<string>()
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') continue
    titles.push(panel.title)
    assert.equal(panel.datasource?.uid, '${datasource}', `${panel.title}: uses the datasource variable`)
    assert.ok((panel.targets ?? []).length > 0, `${panel.title}: has queries`)
    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: fits the grid`)
    for (const target of panel.targets ?? []) {
      assert.match(target.expr, /pod=~"\$pod"/, `${panel.title}: ${target.expr} filters by the pod variable`)
      for (const name of promqlMetricNames(target.expr)) metrics.add(name)
    }
  }
  // No two panels overlap.
  const cells = new Set<string>()
  for (const panel of dashboard.panels) {
    for (let x = panel.gridPos.x; x < panel.gridPos.x + panel.gridPos.w; x++) {
      for (let y = panel.gridPos.y; y < panel.gridPos.y + panel.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${panel.title} overlaps another panel at ${x},${y}`)
        cells.add(`${x},${y}`)
      }
    }
  }
  for (const metric of [
    'starling_connections', 'starling_connections_total', 'starling_connects_refused_total', 'starling_messages_received_total',
    'starling_messages_sent_total', 'starling_bytes_received_total', 'starling_payload_bytes_sent_total',
    'starling_delivery_latency_seconds_bucket', 'starling_messages_dropped_total', 'starling_retained_messages', 'starling_sessions',
    'starling_subscriptions', 'starling_offline_queue_messages', 'starling_redis_command_duration_seconds_bucket',
    'starling_redis_command_errors_total', 'starling_redis_connected', 'starling_share_messages_enqueued_total',
    'starling_share_messages_delivered_total', 'starling_share_messages_redelivered_total', 'starling_share_pending_messages',
    'starling_share_lag_messages', 'starling_nodejs_eventloop_lag_p99_seconds', 'starling_process_cpu_seconds_total',
    'starling_process_resident_memory_bytes'
  ]) {
    assert.ok(metrics.has(metric), `a panel shows ${metric}`)
  }
})
