import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Registry } from 'prom-client'
import { OTHER_LABEL, QuotaMetrics } from '../../src/metrics/quotas.js'
import { MemoryQuotaStore, QuotaEngine, type QuotaBroker } from '../../src/quotas/index.js'
import { parseScrape, value } from '../helpers/metrics.js'

const broker = (name: string, quotas: Partial<QuotaBroker['quotas']> = {}): QuotaBroker => ({
  id: `id-${name}`, namespace: 'ns', name, quotas: { maxConnections: 0, publishRatePerSecond: 0, bytesPerSecond: 0, maxRetained: 0, ...quotas }
})

test('per-broker series: labelled by namespace and broker, at most maxBrokers label sets, the rest summed under _other', async (t) => {
  const engine = new QuotaEngine({ store: new MemoryQuotaStore({ pod: 'p', leaseTtlMs: 10_000 }), renewMs: 1000 })
  t.after(() => engine.close())
  const registry = new Registry()
  new QuotaMetrics(registry, engine, { maxBrokers: 2 })
  const brokers = ['a', 'b', 'c', 'd'].map((name) => broker(name, { maxConnections: 1 }))
  for (const b of brokers) {
    assert.equal(await engine.admitConnection(b), undefined)
    assert.equal(await engine.admitConnection(b), 'max_connections')
    engine.admitPublish(b, 10)
    engine.recordDelivery(b, 4)
  }
  const samples = parseScrape(await registry.metrics())
  assert.equal(value(samples, 'starling_broker_messages_received_total', { namespace: 'ns', broker: 'a' }), 1)
  assert.equal(value(samples, 'starling_broker_payload_bytes_received_total', { namespace: 'ns', broker: 'b' }), 10)
  assert.equal(value(samples, 'starling_broker_messages_received_total', { namespace: OTHER_LABEL, broker: OTHER_LABEL }), 2)
  assert.equal(value(samples, 'starling_broker_payload_bytes_sent_total', { namespace: OTHER_LABEL, broker: OTHER_LABEL }), 8)
  assert.equal(value(samples, 'starling_broker_connections', { namespace: OTHER_LABEL, broker: OTHER_LABEL }), 2)
  assert.equal(value(samples, 'starling_quota_refusals_total', { namespace: 'ns', broker: 'a', quota: 'max_connections' }), 1)
  const labelSets = new Set(samples.filter((s) => s.name === 'starling_broker_messages_received_total').map((s) => `${s.labels.namespace}/${s.labels.broker}`))
  assert.deepEqual([...labelSets].sort(), ['_other/_other', 'ns/a', 'ns/b'])

  // Counters grow by what happened since the last scrape, never count twice.
  engine.admitPublish(brokers[0]!, 1)
  const again = parseScrape(await registry.metrics())
  assert.equal(value(again, 'starling_broker_messages_received_total', { namespace: 'ns', broker: 'a' }), 2)
  assert.equal(value(again, 'starling_broker_messages_received_total', { namespace: OTHER_LABEL, broker: OTHER_LABEL }), 2)
})
