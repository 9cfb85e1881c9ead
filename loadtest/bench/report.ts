import type { BrokerName } from './brokers.js'
import type { IdleResult } from './idle.js'
import type { ScenarioResult } from './scenario.js'

export interface BrokerRow {
  readonly broker: BrokerName
  readonly result: ScenarioResult
}

const int = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
const ms = (n: number): string => Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : 'n/a'
const pct = (n: number): string => Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a'

/** Broker CPU microseconds per delivered message: less sensitive to a busy machine than msg/s. */
export function cpuPerMessageUs (r: ScenarioResult): number {
  return r.unique > 0 ? (r.brokerCpu * r.seconds * 1e6) / r.unique : Number.NaN
}
const us = (n: number): string => Number.isFinite(n) ? n.toFixed(1) : 'n/a'

export function scenarioName (r: ScenarioResult): string {
  const s = r.spec
  return `${s.shape} qos${s.qos} (${s.publishers}→${s.subscribers})`
}

/** One progress line, printed as each scenario finishes. */
export function progressLine (broker: BrokerName, r: ScenarioResult): string {
  const flags = [r.timedOut ? 'TIMED OUT' : '', r.stalls > 0 ? `stall credit ${r.stalls}` : ''].filter(Boolean).join(', ')
  return `[${broker}] ${scenarioName(r)}: ${int(r.received)}/${int(r.expected)} in ${r.seconds.toFixed(2)} s → ${int(r.msgPerSec)} msg/s, ` +
    `p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, lost ${r.lost}, dup ${r.duplicates}, ` +
    `cpu broker ${pct(r.brokerCpu)} (${us(cpuPerMessageUs(r))} µs/msg) gen ${pct(r.generatorCpu)}, window ${r.effectiveWindow}, ahead ${r.aheadPerPublisher}/publisher${flags !== '' ? ` (${flags})` : ''}`
}

export function resultsTable (rows: readonly BrokerRow[]): string {
  const lines = [
    '| scenario | broker | msg/s | p50 ms | p99 ms | lost | dup | broker CPU | broker µs/msg | generator CPU |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|'
  ]
  for (const { broker, result: r } of rows) {
    lines.push(`| ${scenarioName(r)} | ${broker} | ${int(r.msgPerSec)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.lost} | ${r.duplicates} | ${pct(r.brokerCpu)} | ${us(cpuPerMessageUs(r))} | ${pct(r.generatorCpu)} |`)
  }
  return lines.join('\n')
}

export function idleTable (rows: ReadonlyArray<{ broker: BrokerName, idle: IdleResult }>): string {
  const lines = [
    '| broker | idle connections | RSS before MB | RSS after MB | KB per connection |',
    '|---|--:|--:|--:|--:|'
  ]
  for (const { broker, idle } of rows) {
    lines.push(`| ${broker} | ${idle.connections} | ${idle.rssBeforeMb.toFixed(1)} | ${idle.rssAfterMb.toFixed(1)} | ${idle.kbPerConnection.toFixed(1)} |`)
  }
  return lines.join('\n')
}

/** Starling ÷ other broker in QoS 1 msg/s, per shape, with the targets (≥0.8× aedes, ≥1.5× Mosquitto). */
export function ratiosTable (rows: readonly BrokerRow[]): string {
  const targets: Partial<Record<BrokerName, number>> = { aedes: 0.8, mosquitto: 1.5 }
  const lines = ['| QoS 1 shape | Starling / aedes | Starling / Mosquitto |', '|---|--:|--:|']
  const shapes = [...new Set(rows.filter((r) => r.result.spec.qos === 1).map((r) => r.result.spec.shape))]
  for (const shape of shapes) {
    const rate = (broker: BrokerName): number | undefined =>
      rows.find((r) => r.broker === broker && r.result.spec.shape === shape && r.result.spec.qos === 1)?.result.msgPerSec
    const starling = rate('starling')
    const cell = (other: BrokerName): string => {
      const base = rate(other)
      if (starling === undefined || base === undefined || base === 0) return 'n/a'
      const ratio = starling / base
      const target = targets[other] ?? 0
      return `${ratio.toFixed(2)}× (target ≥ ${target}×: ${ratio >= target ? 'met' : 'missed'})`
    }
    lines.push(`| ${shape} | ${cell('aedes')} | ${cell('mosquitto')} |`)
  }
  return lines.join('\n')
}

/** MQTT 5 ÷ MQTT 3.1.1 of each broker and shape in one run: msg/s (higher is better) and broker µs/msg. */
export function protocolRatiosTable (rows: ReadonlyArray<BrokerRow & { readonly protocol: 4 | 5 }>): string {
  const lines = ['| scenario | broker | msg/s v5 / 3.1.1 | v5 ÷ 3.1.1 msg/s | µs/msg v5 / 3.1.1 | v5 ÷ 3.1.1 µs/msg |', '|---|---|--:|--:|--:|--:|']
  for (const v5 of rows.filter((r) => r.protocol === 5)) {
    const v4 = rows.find((r) => r.protocol === 4 && r.broker === v5.broker && scenarioName(r.result) === scenarioName(v5.result))
    if (v4 === undefined) continue
    const [a, b] = [cpuPerMessageUs(v5.result), cpuPerMessageUs(v4.result)]
    lines.push(`| ${scenarioName(v5.result)} | ${v5.broker} | ${int(v5.result.msgPerSec)} / ${int(v4.result.msgPerSec)} | ${(v5.result.msgPerSec / v4.result.msgPerSec).toFixed(2)}× | ` +
      `${us(a)} / ${us(b)} | ${(a / b).toFixed(2)}× |`)
  }
  return lines.join('\n')
}
