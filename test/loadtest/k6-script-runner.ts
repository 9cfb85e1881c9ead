/**
 * Runs the k6 scenario scripts themselves, unchanged, under Node against a real node: the k6
 * built-ins they import (k6/websockets, k6/timers, k6/metrics) resolve to small shims in
 * ./k6-shim/, and k6's globals (__ENV, __VU, open) are set here. Each run is one VU iteration,
 * over when its timers and sockets are gone (as k6 ends an iteration when its event loop is
 * empty); then the script's own thresholds are evaluated on the recorded samples.
 * The scripts read __ENV once, when first imported: one environment per test file (process).
 */
import assert from 'node:assert/strict'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { register } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import { waitFor } from '../helpers/clients.js'
import { startTestNode, type TestNode } from '../helpers/node.js'
import { shim } from './k6-shim/state.js'

register('./k6-shim/hooks.mjs', import.meta.url)

export interface Scenario { default: () => void, options: { thresholds: Record<string, string[]> } }

/**
 * Starts one node for the file and sets k6's globals: `env` on top of small defaults, with
 * CREDENTIALS pointing at a CSV of `devices` entries `dev-<i>,user-<i>,token-<i>`.
 */
export function setUpK6 (devices: number, env: Record<string, string>): { node: () => TestNode } {
  const credentialsFile = join(tmpdir(), `k6-creds-${process.pid}.csv`)
  writeFileSync(credentialsFile, `clientId,username,password\n${Array.from({ length: devices }, (_, i) => `dev-${i},user-${i},token-${i}`).join('\n')}\n`)
  let node: TestNode | undefined
  before(async () => {
    node = await startTestNode(undefined, { drainSeconds: 0 })
    Object.assign(globalThis, {
      __VU: 1,
      open: (path: string) => readFileSync(path, 'utf8'),
      __ENV: {
        URL: `ws://127.0.0.1:${node.node.port('ws')}/mqtt`, DEVICES: String(devices), RATE: '200', DURATION: '2s', DRAIN: '3s',
        INTERVAL: '500ms', COMMAND_RATE: '20', OFFLINE: '500ms', KEEPALIVE: '2', CREDENTIALS: credentialsFile,
        // The machine running the tests is shared and small: judge the scripts' logic, not its speed.
        P95_LATENCY_MS: '2000', P95_CONNECT_MS: '5000',
        ...env
      }
    })
  })
  after(async () => {
    rmSync(credentialsFile, { force: true })
    await node?.node.close()
  })
  return { node: () => { assert.ok(node !== undefined); return node } }
}

/** Samples of a metric, optionally filtered by one tag: `name` or `name{tag:value}`. */
export function values (key: string): number[] {
  const m = /^(\w+)(?:\{(\w+):(\w+)\})?$/.exec(key)
  assert.ok(m !== null, `threshold key ${key}`)
  const [, name, tag, want] = m
  return (shim.samples.get(name as string) ?? []).filter((s) => tag === undefined || s.tags[tag] === want).map((s) => s.value)
}

export const count = (key: string): number => values(key).length
export const sum = (key: string): number => values(key).reduce((a, b) => a + b, 0)

/** The thresholds k6 would evaluate: `rate`, `count` and `p(N)` against a number. */
function evaluate (key: string, expr: string): { ok: boolean, value: number } {
  const e = /^(rate|count|p\((\d+)\))\s*(<|<=|>|>=|==)\s*([\d.]+)$/.exec(expr)
  assert.ok(e !== null, `threshold ${expr}`)
  const v = values(key)
  const sorted = [...v].sort((a, b) => a - b)
  const value = e[1] === 'rate'
    ? v.reduce((a, b) => a + b, 0) / v.length
    : e[1] === 'count'
      ? v.reduce((a, b) => a + b, 0)
      : sorted[Math.min(sorted.length - 1, Math.ceil((Number(e[2]) / 100) * sorted.length) - 1)] ?? NaN
  const limit = Number(e[4])
  const ok = { '<': value < limit, '<=': value <= limit, '>': value > limit, '>=': value >= limit, '==': value === limit }[e[3] as '<']
  return { ok, value }
}

/** Runs one script's VU iteration to its end and asserts every one of its thresholds holds. */
export async function runScript (name: string): Promise<Scenario> {
  shim.reset()
  // A computed specifier: tsc must not follow it (the scripts are type-checked with k6's types, not Node's).
  const path = new URL(`../../loadtest/k6/${name}.ts`, import.meta.url).href
  const scenario = await import(path) as Scenario
  scenario.default()
  await waitFor(() => shim.timers === 0 && shim.sockets === 0, 30_000, `${name} to finish`)
  for (const [key, exprs] of Object.entries(scenario.options.thresholds)) {
    for (const expr of exprs) {
      const { ok, value } = evaluate(key, expr)
      assert.ok(ok, `${name}: threshold ${key} ${expr} failed with ${value}`)
    }
  }
  return scenario
}
