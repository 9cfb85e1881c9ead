import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { startTestNode, type TestNode } from './node.js'

/** One sample line of a Prometheus text scrape. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the Prometheus text exposition format (comments skipped). */
export function parseScrape (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = LINE.exec(line)
    assert.ok(match !== null, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => c === 'n' ? '\n' : c)
    const raw = match[3] as string
    samples.push({ name: match[1] as string, labels, value: raw === 'NaN' ? Number.NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) })
  }
  return samples
}

/** The /metrics text of a node's HTTP port. */
export async function scrapeText (httpPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return await response.text()
}

export async function scrape (httpPort: number): Promise<Sample[]> {
  return parseScrape(await scrapeText(httpPort))
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function value (samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const sample of samples) {
    if (sample.name !== name) continue
    if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) total += sample.value
  }
  return total
}

/** Whether any sample of `name` is in the scrape. */
export function has (samples: readonly Sample[], name: string): boolean {
  return samples.some((sample) => sample.name === name)
}

/**
 * Like startTestNode (test/helpers/node.ts), but the metrics include prom-client's default
 * process and Node.js series (CPU, memory, event-loop lag), as `starling serve` has them.
 */
export async function startMetricsNode (t: TestContext, overrides: Record<string, unknown> = {}): Promise<TestNode> {
  return await startTestNode(t, { nodeId: 'metrics-node', 'log.level': 'info', ...overrides }, { processMetrics: true })
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan', 'atan2'])

/**
 * The metric names a PromQL expression (or a Grafana `label_values([metric,] label)` query)
 * reads. A small tokenizer: strings, label matchers `{…}`, ranges `[…]`, Grafana variables
 * and the label lists of by/without/on/ignoring/group_left/group_right are removed; of the
 * remaining identifiers, functions (followed by `(`), keywords and numbers are not names.
 */
export function promqlMetricNames (expr: string): string[] {
  let text = expr
    .replace(/\blabel_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)/g, '$1')
    .replace(/\blabel_values\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)/g, ' ')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*/g, ' ')
  // Nested braces do not occur in PromQL matchers; brackets hold ranges and subqueries.
  text = text.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ')
  text = text.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  text = text.replace(/\boffset\s+-?[0-9a-z]+/g, ' ')
  const names = new Set<string>()
  const token = /[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?|[a-zA-Z_:][a-zA-Z0-9_:]*/gi
  for (const match of text.matchAll(token)) {
    const word = match[0]
    if (/^[0-9.]/.test(word)) continue
    if (KEYWORDS.has(word.toLowerCase())) continue
    const rest = text.slice((match.index ?? 0) + word.length)
    if (/^\s*\(/.test(rest)) continue
    names.add(word)
  }
  return [...names]
}
