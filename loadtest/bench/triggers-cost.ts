/**
 * What `$trigger` events cost: connect-and-disconnect churn of N clients against one embedded node
 * with triggers on (nobody subscribed, then one `$trigger/#` subscriber) and off, same process.
 * Prints wall time, process CPU and the events the subscriber got (N connected + N disconnected:
 * no amplification). `node --import tsx loadtest/bench/triggers-cost.ts [clients] [parallel]`
 */
import mqtt from 'mqtt'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/logger.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { StarlingNode } from '../../src/node.js'

const CLIENTS = Number(process.argv[2] ?? 5000)
const PARALLEL = Number(process.argv[3] ?? 50)

async function churn (url: string, prefix: string): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < CLIENTS) {
      const id = `${prefix}-${next++}`
      const client = mqtt.connect(url, { clientId: id, reconnectPeriod: 0, protocolVersion: 4 })
      await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject) })
      await client.endAsync()
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker))
}

async function run (label: string, enabled: boolean, subscribe: boolean): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'starling-trg-bench-'))
  const config = loadConfig({ overrides: { nodeId: 'bench', 'mqtt.host': '127.0.0.1', 'mqtt.port': 0, 'ws.enabled': false, 'http.host': '127.0.0.1', 'http.port': 0, dataDir, 'log.level': 'silent', 'triggers.enabled': enabled, acl: [{ action: 'subscribe', topic: '$trigger/#', allow: true }] } })
  const node = await StarlingNode.start(config, { logger: createLogger('silent', 'bench'), metrics: createMetrics('bench', false) })
  const url = `mqtt://127.0.0.1:${node.port('mqtt')}`
  let events = 0
  const watcher = subscribe ? mqtt.connect(url, { clientId: 'watcher', reconnectPeriod: 0 }) : undefined
  if (watcher !== undefined) {
    await new Promise<void>((resolve) => watcher.once('connect', () => resolve()))
    await watcher.subscribeAsync('$trigger/messaging/device/+', { qos: 1 })
    watcher.on('message', () => { events++ })
  }
  const cpu = process.cpuUsage()
  const started = performance.now()
  await churn(url, label)
  const ms = performance.now() - started
  await new Promise((resolve) => setTimeout(resolve, 500))
  const used = process.cpuUsage(cpu)
  console.log(`${label.padEnd(28)} ${CLIENTS} connect+disconnect in ${ms.toFixed(0)} ms (${(CLIENTS / ms * 1000).toFixed(0)}/s), CPU ${((used.user + used.system) / 1000).toFixed(0)} ms${subscribe ? `, events received ${events}` : ''}`)
  await watcher?.endAsync()
  await node.close()
  rmSync(dataDir, { recursive: true, force: true })
}

await run('triggers off', false, false)
await run('triggers on, no subscriber', true, false)
await run('triggers on, one subscriber', true, true)
await run('triggers off (again)', false, false)
