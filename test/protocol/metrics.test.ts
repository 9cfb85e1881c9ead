import assert from 'node:assert/strict'
import { test } from 'node:test'
import { collect, connectClient, endClient, persistentSession, refusedCode, resumeSession, waitFor } from '../helpers/clients.js'
import { has, scrape, startMetricsNode, value, type Sample } from '../helpers/metrics.js'

// /metrics in embedded mode: the series move with real traffic, every series carries the pod
// label, and the store gauges (retained, sessions, queued, subscriptions) follow the broker.

/** Scrapes until `predicate` holds (the store gauges are cached for a second). */
async function scrapeUntil (httpPort: number, predicate: (samples: Sample[]) => boolean, what: string): Promise<Sample[]> {
  let samples: Sample[] = []
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    samples = await scrape(httpPort)
    if (predicate(samples)) return samples
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.fail(`timed out waiting for ${what}`)
}

test('series move with connections, refusals, messages by QoS, latency and stored state', async (t) => {
  const { url, httpPort } = await startMetricsNode(t, { 'limits.maxConnections': 2 })
  const before = await scrape(httpPort)
  assert.equal(value(before, 'starling_delivery_latency_seconds_count'), 0)

  // A persistent session subscribed, then offline: QoS 1 messages for it are queued.
  const offline = await connectClient(t, url, persistentSession(5, 'offline-1'))
  await offline.subscribeAsync('q/#', { qos: 1 })
  await endClient(offline)

  const sub = await connectClient(t, url, { protocolVersion: 5, clientId: 'sub' })
  const pub = await connectClient(t, url, { protocolVersion: 4, clientId: 'pub' })
  const got = collect(sub)
  await sub.subscribeAsync({ 'm/#': { qos: 2 }, 'r/#': { qos: 1 } })
  await pub.publishAsync('m/a', 'zero', { qos: 0 })
  await pub.publishAsync('m/a', 'one!', { qos: 1 })
  await pub.publishAsync('m/a', 'two!!', { qos: 2 })
  await pub.publishAsync('r/x', 'kept', { qos: 1, retain: true })
  await pub.publishAsync('q/x', 'queued-1', { qos: 1 })
  await pub.publishAsync('q/x', 'queued-2', { qos: 1 })
  await waitFor(() => got.length === 4, 5000, 'the live deliveries')

  // Refused: by Starling's CONNECT pipeline (connection limit: sub and pub are connected) and by
  // aedes itself (a 3.1 client id longer than 23 characters, checked before the pipeline runs).
  assert.equal(await refusedCode(url, { protocolVersion: 5, clientId: 'third' }), 0x97)
  assert.equal(await refusedCode(url, { protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'x'.repeat(30) }), 2)

  const after = await scrapeUntil(httpPort, (s) => value(s, 'starling_offline_queue_messages') === 2 && value(s, 'starling_retained_messages') === 1, 'the store gauges')
  for (const sample of after) assert.equal(sample.labels.pod, 'metrics-node', `${sample.name} carries the pod label`)

  assert.equal(value(after, 'starling_connections', { listener: 'mqtt', protocol: '5' }), 1)
  assert.equal(value(after, 'starling_connections', { listener: 'mqtt', protocol: '3.1.1' }), 1)
  assert.equal(value(after, 'starling_connections_total', { protocol: '5' }), 2)
  assert.equal(value(after, 'starling_connects_refused_total', { reason: 'max_connections' }), 1)
  assert.equal(value(after, 'starling_connects_refused_total', { reason: 'client_id_not_valid' }), 1)
  assert.equal(value(after, 'starling_connects_refused_total'), 2, 'each refusal is counted once')

  assert.equal(value(after, 'starling_messages_received_total', { qos: '0' }), 1)
  assert.equal(value(after, 'starling_messages_received_total', { qos: '1' }), 4)
  assert.equal(value(after, 'starling_messages_received_total', { qos: '2' }), 1)
  assert.equal(value(after, 'starling_payload_bytes_received_total', { qos: '0' }), 4)
  assert.equal(value(after, 'starling_payload_bytes_received_total', { qos: '1' }), 4 + 4 + 8 + 8)
  assert.equal(value(after, 'starling_payload_bytes_received_total', { qos: '2' }), 5)
  assert.equal(value(after, 'starling_messages_sent_total', { qos: '0' }), 1)
  assert.equal(value(after, 'starling_messages_sent_total', { qos: '1' }), 2)
  assert.equal(value(after, 'starling_messages_sent_total', { qos: '2' }), 1)
  assert.equal(value(after, 'starling_payload_bytes_sent_total'), 4 + 4 + 5 + 4)

  // Four live deliveries, each timed from publish to the write to the subscriber.
  const count = value(after, 'starling_delivery_latency_seconds_count')
  assert.equal(count, 4)
  const sum = value(after, 'starling_delivery_latency_seconds_sum')
  assert.ok(sum > 0 && sum < 5, `latency sum ${sum} s`)
  const buckets = after.filter((s) => s.name === 'starling_delivery_latency_seconds_bucket')
  assert.equal(buckets.find((s) => s.labels.le === '+Inf')?.value, count)
  for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i] as Sample).value >= (buckets[i - 1] as Sample).value, 'buckets are cumulative')

  assert.ok(value(after, 'starling_bytes_received_total') > 4 + 4 + 5 + 4 + 16, 'socket bytes in include the payloads')
  assert.ok(value(after, 'starling_bytes_sent_total') > 4 + 4 + 5 + 4, 'socket bytes out include the payloads')

  assert.equal(value(after, 'starling_sessions'), 1)
  assert.equal(value(after, 'starling_subscriptions'), 2, 'the connected client\'s two subscriptions')

  // Default process and Node.js series, with our prefix.
  for (const name of ['starling_process_cpu_seconds_total', 'starling_process_resident_memory_bytes', 'starling_nodejs_eventloop_lag_p99_seconds', 'starling_nodejs_heap_size_used_bytes']) {
    assert.ok(has(after, name), name)
  }

  // The retained message is cleared, the offline session comes back and takes its queue.
  await pub.publishAsync('r/x', '', { qos: 1, retain: true })
  const resumed = resumeSession(t, url, { ...persistentSession(5, 'offline-1') })
  // The connection limit counts the resuming session: make room first.
  await endClient(sub)
  await waitFor(() => resumed.length === 2, 5000, 'the queued messages')
  const drained = await scrapeUntil(httpPort, (s) => value(s, 'starling_offline_queue_messages') === 0 && value(s, 'starling_retained_messages') === 0, 'the queue to drain')
  assert.equal(value(drained, 'starling_sessions'), 1)
  assert.equal(value(drained, 'starling_subscriptions'), 1, 'offline-1\'s subscription, now connected')
  assert.ok(value(drained, 'starling_delivery_latency_seconds_count') >= 4, 'queued messages are not live deliveries')
})
