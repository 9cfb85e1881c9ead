import assert from 'node:assert/strict'
import { test } from 'node:test'
import { loadConfig } from '../../src/config/load.js'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { openIdentity, within } from '../helpers/identity.js'
import { scrape, value } from '../helpers/metrics.js'
import { POD_SECRET_KEY, startPod } from '../helpers/pods.js'
import { startRedis } from '../helpers/redis.js'
import { startWorker } from '../helpers/hooks.js'

/**
 * Two `starling serve` pods (dist/: `npm run build` first) on one real Redis: the default broker's hook, set through the tenancy store, applies on both
 * pods; a message published on one pod reaches the other's subscriber as the Worker answered it,
 * signed with the broker's key; a settings change reaches the pods live.
 */
test('two pods: the default broker\'s on-publish hook applies on both, signed with the broker\'s key; changes apply live', async (t) => {
  const redis = await startRedis(t)
  const config = loadConfig({ overrides: { nodeId: 'operator', 'redis.url': redis.url, 'auth.secretKey': POD_SECRET_KEY, 'auth.defaultBrokerAuthType': 'NONE', 'log.level': 'silent' } })
  const identity = await openIdentity(t, config)
  const broker = await identity.tenancy.getBroker('default', 'default')
  const worker = await startWorker(t, () => broker.publicKey, (messages) => messages
    .filter((m) => m.topic !== 'drop/me')
    .map((m) => ({ ...m, payload: `${m.payload} via hook`, topic: `hooked/${m.topic}` })))
  await identity.tenancy.updateBroker('default', 'default', { onPublish: { url: worker.url, filter: ['in/#', 'drop/#'] } })

    const [one, two] = await Promise.all([startPod(t, 'pod-1', { redisUrl: redis.url }), startPod(t, 'pod-2', { redisUrl: redis.url })])
  const sub = await connectClient(t, two.url, { protocolVersion: 5, clientId: 'sub' })
  const got = collect(sub)
  await sub.subscribeAsync('#', { qos: 1 })
  const pub = await connectClient(t, one.url, { protocolVersion: 5, clientId: 'pub' })
  const text = { qos: 1 as const, properties: { payloadFormatIndicator: true } }
  await pub.publishAsync('in/a', 'one', text)
  await pub.publishAsync('drop/me', 'gone', text)
  await pub.publishAsync('plain', 'direct', text)
  const pubTwo = await connectClient(t, two.url, { protocolVersion: 5, clientId: 'pub2' })
  await pubTwo.publishAsync('in/b', 'two', text)
  await waitFor(() => got.length === 3, 10000, 'three deliveries across pods')
  await sleep(200)
  assert.deepEqual(got.map((m) => `${m.topic}=${m.payload.toString()}`).sort(), ['hooked/in/a=one via hook', 'hooked/in/b=two via hook', 'plain=direct'])
  // Every request carried the broker's signature (the Worker refuses any other).
  assert.equal(worker.invalid, 0)
  assert.deepEqual(worker.batches.flat().map((m) => `${m.clientId}:${m.topic}`).sort(), ['pub2:in/b', 'pub:drop/me', 'pub:in/a'])
  const labels = { namespace: 'default', broker: 'default' }
  assert.equal(value(await scrape(one.httpPort), 'starling_hook_messages_total', labels), 2)
  assert.equal(value(await scrape(two.httpPort), 'starling_hook_messages_total', labels), 1)

  // The operator removes the hook: both pods stop calling it within a second or two.
  await identity.tenancy.updateBroker('default', 'default', { onPublish: null })
  const before = worker.requests
  await within(5000, 'hook removed on both pods', async () => {
    const n = got.length
    await pub.publishAsync('in/c', 'x', text)
    await pubTwo.publishAsync('in/c', 'y', text)
    await waitFor(() => got.length >= n + 2, 5000, 'deliveries')
    return got.slice(n).every((m) => m.topic === 'in/c')
  })
  assert.ok(worker.requests >= before)
})
