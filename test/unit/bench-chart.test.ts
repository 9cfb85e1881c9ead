import assert from 'node:assert/strict'
import { test } from 'node:test'
import { markdownTables, renderSvg } from '../../loadtest/bench/chart.js'
import type { ResultRow, ResultsFile } from '../../loadtest/bench/results-json.js'

// The chart and tables at the top of docs/benchmarks.md come from results files like this one.
const row = (broker: string, protocol: 4 | 5, msgPerSec: number, usPerMsg: number): ResultRow => ({
  broker, protocol, shape: 'one-to-one', qos: 1, msgPerSec, usPerMsg, p50Ms: 1, p99Ms: 2, lost: 0, duplicates: 0,
  brokerCpu: 0.5, generatorCpu: 0.1, rounds: [{ msgPerSec, usPerMsg }]
})
const file: ResultsFile = {
  title: 'One pod <QoS 1>',
  command: 'npm run bench -- --protocol 4,5',
  date: '2026-12-07T18:00:40.943Z',
  commit: 'abc1234',
  load: [1.5, 2],
  node: 'v20.20.2',
  rows: [row('starling', 5, 40_000, 12.5), row('aedes', 5, 20_000, 25), row('starling', 4, 30_000, 10), row('mosquitto', 4, 15_000, 20)]
}

test('chart: one bar per row, the longest msg/s the widest, labels escaped, valid SVG shape', () => {
  const svg = renderSvg([{ name: 'one-pod', path: 'docs/bench-results/one-pod.json', file }])
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'))
  assert.ok(svg.trimEnd().endsWith('</svg>'))
  const widths = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]))
  assert.equal(widths.length, 4)
  assert.equal(Math.max(...widths), widths[0], 'starling MQTT 5 (40,000 msg/s) has the longest bar')
  assert.equal(widths[1], (widths[0] ?? 0) / 2, 'bars are proportional to msg/s')
  assert.ok(svg.includes('One pod &lt;QoS 1&gt;'), 'the title is escaped')
  assert.ok(svg.includes('40,000 msg/s · 12.5 µs/msg'))
  assert.ok(svg.includes('one-to-one QoS 1 MQTT 5') && svg.includes('one-to-one QoS 1 MQTT 3.1.1'))
})

test('chart tables: one row per scenario, Starling ratios in msg/s and µs/msg, a missing broker as —', () => {
  const md = markdownTables([{ name: 'one-pod', path: 'docs/bench-results/one-pod.json', file }])
  const lines = md.split('\n').filter((l) => l.startsWith('| one-to-one'))
  assert.deepEqual(lines, [
    '| one-to-one QoS 1 MQTT 5 | 40,000 (12.5) | 20,000 (25.0) | — | 2.00×; 0.50× | — |',
    '| one-to-one QoS 1 MQTT 3.1.1 | 30,000 (10.0) | — | 15,000 (20.0) | — | 2.00×; 0.50× |'
  ])
  assert.ok(md.includes('npm run bench -- --protocol 4,5'))
})
