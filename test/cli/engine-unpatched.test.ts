import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// Runs the compiled code in dist/: `npm run build` first (`npm test` does).
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * A copy of this install whose aedes is plain (our patch reversed), as `npm install
 * --ignore-scripts` leaves it; every other package is the installed one.
 */
function installWithPlainAedes (): string {
  const dir = mkdtempSync(join(tmpdir(), 'starling-unpatched-'))
  for (const name of ['dist', 'bin', 'package.json']) cpSync(join(ROOT, name), join(dir, name), { recursive: true })
  mkdirSync(join(dir, 'node_modules'))
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== 'aedes') symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name))
  }
  cpSync(join(ROOT, 'node_modules', 'aedes'), join(dir, 'node_modules', 'aedes'), { recursive: true })
  execFileSync('git', ['apply', '-R', join(ROOT, 'patches', 'aedes+2.0.0-beta.1.patch')], { cwd: dir })
  return dir
}

test('starling serve on an aedes without our patch exits 1 with STARLING_ERR_ENGINE_UNPATCHED', async (t) => {
  const dir = installWithPlainAedes()
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [join(dir, 'bin', 'starling.js'), 'serve', '--mqtt-port', '0', '--http-port', '0'], {
    env: { PATH: process.env.PATH ?? '', STARLING_WS_ENABLED: 'false', STARLING_MQTT_HOST: '127.0.0.1', STARLING_HTTP_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  clearTimeout(timer)
  assert.equal(code, 1, `stderr: ${stderr}`)
  assert.match(stderr, /^starling: STARLING_ERR_ENGINE_UNPATCHED: aedes is not patched for Starling \(patch revision none, expected \d+\): run npm install without --ignore-scripts/m)
  assert.doesNotMatch(stdout, /starling ready/)
})
