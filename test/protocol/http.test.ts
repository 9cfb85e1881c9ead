import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

async function scrape (port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type') ?? '', /text\/plain/)
  return response.text()
}

function sample (text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop())
  }
  return total
}

test('/healthz and /readyz answer 200 while serving', async (t) => {
  const { httpPort } = await startTestNode(t)
  const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`)
  assert.equal(health.status, 200)
  assert.deepEqual(await health.json(), { status: 'ok' })
  const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`)
  assert.equal(ready.status, 200)
  assert.deepEqual(await ready.json(), { status: 'ready' })
})

test('/metrics series move with connections and messages, labelled by pod', async (t) => {
  const { url, httpPort } = await startTestNode(t)
  const before = await scrape(httpPort)
  assert.equal(sample(before, 'starling_connections'), 0)

  const sub = await connectClient(t, url, { protocolVersion: 5 })
  const pub = await connectClient(t, url, { protocolVersion: 4 })
  const got = collect(sub)
  await sub.subscribeAsync('m/#', { qos: 1 })
  for (let i = 0; i < 3; i++) await pub.publishAsync('m/x', 'p', { qos: 1 })
  await waitFor(() => got.length === 3)

  const after = await scrape(httpPort)
  assert.match(after, /pod="test-node"/)
  assert.equal(sample(after, 'starling_connections', { protocol: '5' }), 1)
  assert.equal(sample(after, 'starling_connections', { protocol: '3.1.1' }), 1)
  assert.equal(sample(after, 'starling_connections_total', { listener: 'mqtt' }), 2)
  assert.equal(sample(after, 'starling_messages_received_total', { qos: '1' }), 3)

  await new Promise<void>((resolve) => pub.end(false, {}, () => resolve()))
  let open = 2
  for (let i = 0; i < 100 && open !== 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    open = sample(await scrape(httpPort), 'starling_connections')
  }
  assert.equal(open, 1, 'the gauge drops when a client leaves')
})
