import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import type { IDisconnectPacket } from 'mqtt-packet'
import { connectClient, waitFor } from '../helpers/clients.js'

// The CLI runs the compiled code in dist/: `npm test` builds first (or run `npm run build`).
const BIN = fileURLToPath(new URL('../../bin/starling.js', import.meta.url))

/** A port that was free a moment ago on 127.0.0.1 (bind to 0, read it, release it). */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (typeof address !== 'object' || address === null) throw new Error('no port')
  return address.port
}

interface Run { child: ChildProcess, stdout: () => string, stderr: () => string, exit: Promise<{ code: number | null, ms: number }> }

function run (t: TestContext, args: string[], env: Record<string, string> = {}): Run {
  const started = Date.now()
  // Tenancy's data directory (default ./data): a temporary one, not the working tree.
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-serve-'))
  t.after(() => rmSync(dataDir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH ?? '', STARLING_WS_ENABLED: 'false', STARLING_LOG_LEVEL: 'info', STARLING_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exit = new Promise<{ code: number | null, ms: number }>((resolve) => child.once('exit', (code) => resolve({ code, ms: Date.now() - started })))
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  return { child, stdout: () => out, stderr: () => err, exit }
}

test('starling serve: SIGTERM drains (v5 client gets DISCONNECT 0x8B) and exits 0 within drainSeconds', async (t) => {
  const mqttPort = await freePort()
  const httpPort = await freePort()
  const serve = run(t, ['serve', '--mqtt-port', String(mqttPort), '--http-port', String(httpPort)], {
    STARLING_MQTT_HOST: '127.0.0.1', STARLING_HTTP_HOST: '127.0.0.1', STARLING_DRAIN_SECONDS: '3'
  })
  await waitFor(() => serve.stdout().includes('starling ready'), 10000, 'starling ready')
  const client = await connectClient(t, `mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 5, clientId: 'cli-drain' })
  let reason: number | undefined
  client.on('disconnect', (packet: IDisconnectPacket) => { reason = packet.reasonCode })

  const signalled = Date.now()
  serve.child.kill('SIGTERM')
  const { code } = await serve.exit
  assert.equal(code, 0, serve.stderr())
  assert.ok(Date.now() - signalled < 3000, 'exited within drainSeconds')
  await waitFor(() => reason !== undefined, 2000, 'DISCONNECT')
  assert.equal(reason, 0x8b)
  assert.match(serve.stdout(), /drained/)
})

const badConfigs: Array<{ name: string, args: (dir: string) => string[], env?: Record<string, string>, field: RegExp }> = [
  { name: '--mqtt-port abc', args: () => ['serve', '--mqtt-port', 'abc'], field: /mqtt\.port/ },
  { name: 'STARLING_LIMITS_MAX_PACKET_SIZE=-1', args: () => ['serve'], env: { STARLING_LIMITS_MAX_PACKET_SIZE: '-1' }, field: /limits\.maxPacketSize.*STARLING_LIMITS_MAX_PACKET_SIZE/ },
  { name: 'an unreadable --config file', args: (dir) => ['serve', '--config', join(dir, 'missing.yaml')], field: /missing\.yaml/ },
  {
    name: 'a YAML file with an unknown key',
    args: (dir) => { const file = join(dir, 'bad.yaml'); writeFileSync(file, 'limits:\n  maxConections: 5\n'); return ['serve', '--config', file] },
    field: /maxConections/
  }
]

for (const bad of badConfigs) {
  test(`starling serve: bad config (${bad.name}) exits non-zero naming the field`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'starling-cli-'))
    const serve = run(t, bad.args(dir), bad.env)
    const { code } = await serve.exit
    assert.notEqual(code, 0)
    assert.match(serve.stderr(), bad.field)
    assert.match(serve.stderr(), /STARLING_ERR_CONFIG/)
  })
}
