import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { ResultRow, ResultsFile } from './results-json.js'

/**
 * Draws the benchmark results files (docs/bench-results/*.json, written by `npm run bench --
 * --json PATH`) as one hand-written SVG: per results file, per scenario a bar per broker, its
 * length the median msg/s, its label msg/s and broker CPU µs per delivered message. With
 * `--tables` it also prints the compact markdown tables of "Current figures".
 *
 *   node --import tsx loadtest/bench/chart.ts                 # docs/bench-results/*.json → docs/bench-results/chart.svg
 *   node --import tsx loadtest/bench/chart.ts --tables        # and the markdown tables on stdout
 */
const USAGE = `usage: node --import tsx loadtest/bench/chart.ts [--dir docs/bench-results] [--out FILE.svg] [--tables]`

const COLORS: Record<string, string> = { starling: '#2b6cb0', aedes: '#718096', mosquitto: '#dd6b20' }
const EXTRA_COLORS = ['#38a169', '#805ad5', '#d53f8c', '#319795']

const WIDTH = 900
const BAR_MAX = 330
/** Rough width of a character of the 11px sans-serif labels: enough to keep the columns apart. */
const CHAR_W = 6.6
const BAR_H = 14
const ROW_GAP = 4
const GROUP_GAP = 12

interface Section { readonly name: string, readonly path: string, readonly file: ResultsFile }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
// JSON has no NaN: a figure a benchmark did not measure is null in the file
const known = (n: number | null): n is number => typeof n === 'number' && Number.isFinite(n)
const int = (n: number | null): string => known(n) ? Math.round(n).toLocaleString('en-US') : '–'
const us = (n: number | null): string => known(n) ? n.toFixed(1) : '–'
const protocolName = (p: number): string => (p === 5 ? 'MQTT 5' : 'MQTT 3.1.1')

export function groupKey (r: ResultRow): string {
  return r.scenario ?? `${r.shape} QoS ${r.qos} ${protocolName(r.protocol)}`
}

function groups (rows: readonly ResultRow[]): Map<string, ResultRow[]> {
  const out = new Map<string, ResultRow[]>()
  for (const row of rows) out.set(groupKey(row), [...(out.get(groupKey(row)) ?? []), row])
  return out
}

function colorOf (broker: string, seen: string[]): string {
  const known = COLORS[broker]
  if (known !== undefined) return known
  if (!seen.includes(broker)) seen.push(broker)
  return EXTRA_COLORS[seen.indexOf(broker) % EXTRA_COLORS.length] ?? '#4a5568'
}

export function renderSvg (sections: readonly Section[]): string {
  const parts: string[] = []
  const extra: string[] = []
  // columns sized by the longest scenario and broker labels (cluster targets are long)
  const allRows = sections.flatMap((sec) => sec.file.rows)
  const groupW = Math.ceil(Math.max(...allRows.map((r) => groupKey(r).length)) * CHAR_W) + 10
  const brokerW = Math.ceil(Math.max(...allRows.map((r) => r.broker.length)) * CHAR_W) + 6
  const lineX = 10 + groupW
  const barX = lineX + 10 + brokerW
  const barMax = Math.min(BAR_MAX, WIDTH - barX - 200)
  let y = 24
  parts.push(`<text x="10" y="${y}" font-size="15" font-weight="bold">Median msg/s per broker (bar) and broker CPU µs per delivered message; compare within one run</text>`)
  y += 12
  for (const { name, file } of sections) {
    y += 22
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(file.title)} (${esc(name)})</text>`)
    y += 15
    parts.push(`<text x="10" y="${y}" font-size="10" fill="#4a5568">${esc(file.date.slice(0, 16).replace('T', ' '))} UTC · git ${esc(file.commit)} · load ${file.load.join(' → ')} · node ${esc(file.node)}</text>`)
    y += 13
    const command = file.command.length > 140 ? file.command.slice(0, 139) + '…' : file.command
    parts.push(`<text x="10" y="${y}" font-size="10" font-family="monospace" fill="#4a5568">${esc(command)}</text>`)
    y += 8
    const max = Math.max(1, ...file.rows.map((r) => known(r.msgPerSec) ? r.msgPerSec : 0))
    for (const [group, rows] of groups(file.rows)) {
      y += GROUP_GAP
      const top = y
      for (const row of rows) {
        const w = known(row.msgPerSec) ? Math.max(1, (row.msgPerSec / max) * barMax) : 0
        parts.push(`<text x="${barX - 6}" y="${y + BAR_H - 3}" font-size="11" text-anchor="end">${esc(row.broker)}</text>`)
        parts.push(`<rect x="${barX}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${colorOf(row.broker, extra)}"/>`)
        const loss = row.lost > 0 || row.duplicates > 0 ? ` · lost ${row.lost}, dup ${row.duplicates}` : ''
        parts.push(`<text x="${(barX + w + 6).toFixed(1)}" y="${y + BAR_H - 3}" font-size="11">${int(row.msgPerSec)} msg/s · ${us(row.usPerMsg)} µs/msg${loss}</text>`)
        y += BAR_H + ROW_GAP
      }
      parts.push(`<text x="10" y="${((top + y - ROW_GAP) / 2 + 4).toFixed(1)}" font-size="11" font-weight="bold">${esc(group)}</text>`)
      parts.push(`<line x1="${lineX}" y1="${top}" x2="${lineX}" y2="${y - ROW_GAP}" stroke="#cbd5e0"/>`)
    }
  }
  y += 16
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#ffffff"/>\n${parts.join('\n')}\n</svg>\n`
}

/** One compact markdown table per results file: scenario × broker, msg/s and µs/msg, plus the ratios to Starling. */
export function markdownTables (sections: readonly Section[]): string {
  const out: string[] = []
  for (const { path, file } of sections) {
    const brokers = [...new Set(file.rows.map((r) => r.broker))]
    // ratio columns only where a row is plain `starling` (the one-pod benchmark)
    const others = brokers.includes('starling') ? brokers.filter((b) => b !== 'starling') : []
    out.push(`**${file.title}** (\`${path}\`, ${file.date.slice(0, 16).replace('T', ' ')} UTC, git ${file.commit}, load ${file.load.join(' → ')}):`)
    out.push('')
    out.push('```sh', file.command, '```', '')
    out.push(`| scenario | ${[...brokers.map((b) => `${b} msg/s (µs/msg)`), ...others.map((b) => `starling ÷ ${b}: msg/s; µs/msg`)].join(' | ')} |`)
    out.push(`|---|${[...brokers, ...others].map(() => '--:').join('|')}|`)
    for (const [group, rows] of groups(file.rows)) {
      const byBroker = (b: string): ResultRow | undefined => rows.find((r) => r.broker === b)
      const starling = byBroker('starling')
      const cells = brokers.map((b) => {
        const r = byBroker(b)
        return r === undefined ? '—' : `${int(r.msgPerSec)} (${us(r.usPerMsg)})`
      })
      const ratios = others.map((b) => {
        const r = byBroker(b)
        return starling === undefined || r === undefined ? '—' : `${(starling.msgPerSec / r.msgPerSec).toFixed(2)}×; ${(starling.usPerMsg / r.usPerMsg).toFixed(2)}×`
      })
      out.push(`| ${[group, ...cells, ...ratios].join(' | ')} |`)
    }
    out.push('')
  }
  return out.join('\n') + '\n'
}

export function readSections (dir: string): Section[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => ({
    name: basename(f, '.json'),
    path: join(dir, f),
    file: JSON.parse(readFileSync(join(dir, f), 'utf8')) as ResultsFile
  }))
}

function main (): void {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, out: { type: 'string' }, tables: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }
  })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const dir = values.dir ?? 'docs/bench-results'
  const out = values.out ?? join(dir, 'chart.svg')
  const sections = readSections(dir)
  if (sections.length === 0) throw new Error(`no results (*.json) in ${dir}\n${USAGE}`)
  writeFileSync(out, renderSvg(sections))
  process.stderr.write(`${out}: ${sections.length} results file(s)\n`)
  if (values.tables === true) process.stdout.write(markdownTables(sections))
}

if (import.meta.url === `file://${process.argv[1]}`) main()
