import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const CHILD = fileURLToPath(new URL('./process-policy-child.ts', import.meta.url))

async function run (env: Record<string, string>): Promise<{ code: number | null, lines: Array<Record<string, unknown>>, ms: number }> {
  const started = Date.now()
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { code, lines, ms: Date.now() - started }
}

test('process policy: an unhandled rejection is logged and counted and the process keeps running; an uncaught exception drains, then exits 1', async () => {
  const { code, lines } = await run({})
  const msgs = lines.map((l) => String(l.msg))
  const rejection = lines.find((l) => l.msg === 'unhandled promise rejection; the pod keeps serving')
  assert.match(JSON.stringify(rejection?.err), /nobody waited for this/)
  assert.ok(msgs.indexOf('still serving after the rejection') > msgs.indexOf('unhandled promise rejection; the pod keeps serving'))
  const fatal = lines.find((l) => l.level === 60)
  assert.match(String(fatal?.msg), /uncaught exception; state unknown: draining, then exiting 1/)
  assert.match(JSON.stringify(fatal?.err), /state unknown/)
  const finished = lines.find((l) => l.msg === 'drain finished')
  assert.deepEqual(new Map(finished?.counted as Array<[string, number]>).get('unhandled_rejection'), 1)
  assert.deepEqual(new Map(finished?.counted as Array<[string, number]>).get('uncaught_exception'), 1)
  assert.equal(code, 1)
})

test('process policy: a drain that never ends is cut at its bound and the process exits 1', async () => {
  const { code, lines, ms } = await run({ HANGING_DRAIN: '1', DRAIN_MS: '500' })
  assert.ok(lines.some((l) => l.msg === 'drain started'))
  assert.equal(lines.some((l) => l.msg === 'drain finished'), false)
  assert.equal(code, 1)
  assert.ok(ms < 10_000, `exited within its bound (${ms} ms)`)
})
