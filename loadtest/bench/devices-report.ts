import type { Row } from './devices-scenarios.js'

/** Summary of the devices harness: one markdown row per scenario × target. */
const int = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'
const ms = (n: number): string => Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '–'
const ratio = (n: number): string => Number.isFinite(n) ? `${(n * 100).toFixed(n >= 0.9995 && n < 1 ? 3 : 2)}%` : '–'
const kb = (n: number): string => Number.isFinite(n) ? n.toFixed(1) : '–'

export function rowLine (r: Row): string {
  return `[${r.target}] ${r.scenario}: held ${int(r.held)}/${int(r.devices)} (failed ${r.failed}), connect ${int(r.connectRate)}/s (broker CPU ${ms(r.cpuMsPerConnect)} ms each) p50 ${ms(r.connectP50)} p99 ${ms(r.connectP99)} ms, ` +
    `sent ${int(r.sent)} delivered ${int(r.delivered)} (${ratio(r.delivery)}), ${int(r.msgPerSec)} msg/s, p50 ${ms(r.p50)} p99 ${ms(r.p99)} ms, ` +
    `RSS KB/conn idle ${r.rssIdleKb.map(kb).join(' / ')}, end ${r.rssKb.map(kb).join(' / ')}` +
    `${Number.isFinite(r.loopP99Ms) ? `, pods: event-loop delay p99 ${ms(r.loopP99Ms)} max ${ms(r.loopMaxMs)} ms, GC max pause ${ms(r.gcMaxMs)} ms, GC ${ms(r.gcMsPerSec)} ms/s` : ''}${r.extra !== '' ? `; ${r.extra}` : ''}; load ${r.load}`
}

export function devicesTable (rows: readonly Row[]): string {
  const lines = [
    '| scenario | target | devices | held | failed | connect/s | broker CPU ms/connect | connect p50/p99 ms | msg/s | delivery | p50 ms | p99 ms | RSS KB/conn idle | RSS KB/conn end | event-loop delay p99 / max ms (worst pod) | GC max pause ms, GC ms/s | load avg | notes |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--|--|'
  ]
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.target} | ${int(r.devices)} | ${int(r.held)} | ${r.failed} | ${int(r.connectRate)} | ${ms(r.cpuMsPerConnect)} | ${ms(r.connectP50)} / ${ms(r.connectP99)} | ${int(r.msgPerSec)} | ` +
      `${ratio(r.delivery)} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.rssIdleKb.map(kb).join(' / ')} | ${r.rssKb.map(kb).join(' / ')} | ${ms(r.loopP99Ms)} / ${ms(r.loopMaxMs)} | ${ms(r.gcMaxMs)}, ${ms(r.gcMsPerSec)} | ${r.load} | ${r.extra} |`)
  }
  return lines.join('\n')
}
