import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { connectClient, sleep, waitFor } from '../helpers/clients.js'
import { parseScrape, scrapeText, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'
import { subackCodes } from '../helpers/suback.js'

// No label value taken from a client without a bound: the group name is the `group` label of the
// starling_share_* series only for the first share.metricsMaxGroups groups; the others are summed
// under group="+other", and a forgotten group's series are removed.

const GROUPS = 10_000
const PER_SUBSCRIBE = 500

test('10,000 random group names: /metrics stays bounded, the rest is counted under group="+other"', async (t) => {
  const { url, mqttPort, httpPort } = await startTestNode(t, {
    'share.maxGroups': GROUPS + 10,
    'share.maxGroupsPerClient': GROUPS + 10,
    'limits.maxSubscriptionsPerClient': GROUPS + 10,
    'share.metricsMaxGroups': 20,
    'share.sweepMs': 100
  })
  const baseline = (await scrapeText(httpPort)).length
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'label-flood' })
  const names = Array.from({ length: GROUPS }, () => randomBytes(12).toString('hex'))
  for (let i = 0; i < GROUPS; i += PER_SUBSCRIBE) {
    const codes = await subackCodes(client, names.slice(i, i + PER_SUBSCRIBE).map((name) => `$share/${name}/labels/+`), 0)
    assert.ok(codes.every((code) => code === 0), `granted ${i}..${i + PER_SUBSCRIBE}`)
  }
  // One message matches every group: each one's queue counts it.
  const pub = await connectClient(t, url, { protocolVersion: 5, clientId: 'label-pub' })
  await pub.publishAsync('labels/1', 'x', { qos: 1 })
  await waitFor(() => client.received.filter((p) => p.cmd === 'publish').length >= GROUPS, 20_000, 'one message per group')
  await sleep(300) // a sweep refreshes the gauges

  const text = await scrapeText(httpPort)
  const samples = parseScrape(text)
  const groupLabels = new Set(samples.filter((s) => s.name.startsWith('starling_share_')).map((s) => s.labels.group))
  assert.ok(groupLabels.size <= 21, `${groupLabels.size} group label values (20 names + "+other")`)
  assert.ok(groupLabels.has('+other'))
  assert.equal(value(samples, 'starling_share_messages_enqueued_total'), GROUPS, 'every group\'s message counted')
  assert.equal(value(samples, 'starling_share_messages_delivered_total'), GROUPS)
  // Unbounded, 10,000 names on six series would add megabytes; bounded it is a few kilobytes.
  assert.ok(text.length - baseline < 32 * 1024, `/metrics grew by ${text.length - baseline} bytes`)
})

test('a forgotten group\'s series are removed and its label is free for another group', async (t) => {
  const { mqttPort, httpPort } = await startTestNode(t, { 'share.metricsMaxGroups': 1, 'share.sweepMs': 100, 'share.maxAgeMs': 1000 })
  const { client } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'forgetful' })
  assert.deepEqual(await subackCodes(client, ['$share/first/f', '$share/second/f'], 0), [0, 0])
  await sleep(300) // a sweep sets the gauges
  const before = parseScrape(await scrapeText(httpPort))
  const labelsOf = (samples: typeof before): string[] => [...new Set(samples.filter((s) => s.name === 'starling_share_pending_messages').map((s) => s.labels.group ?? ''))].sort()
  assert.deepEqual(labelsOf(before), ['+other', 'first'])
  client.destroy()
  // Forgotten share.maxAgeMs after its last member left, then the next sweep removes it.
  await sleep(1500)
  const { client: again } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'forgetful-2' })
  assert.deepEqual(await subackCodes(again, ['$share/third/f'], 0), [0])
  await sleep(300)
  assert.deepEqual(labelsOf(parseScrape(await scrapeText(httpPort))), ['third'])
})
