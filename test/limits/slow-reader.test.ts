import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { Packet } from 'mqtt-packet'
import { collect, connectClient, sleep, waitFor } from '../helpers/clients.js'
import { scrape, value } from '../helpers/metrics.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

// Slow readers: a client's socket may buffer limits.maxOutboundBufferBytes; beyond it QoS 0
// messages to that client are dropped and counted, and one that stays over it for
// limits.slowReaderTimeoutMs is disconnected (DISCONNECT 0x97 in MQTT 5, closed in 3.1.1). Other
// clients are unaffected and the publisher is not slowed.

const MESSAGES = 800
const SIZE = 64 * 1024
/** limits.maxOutboundBufferBytes here: well above what a reading client lags behind on a loaded machine. */
const BOUND = 4 * 1024 * 1024

// A full collection before each measure, so what is counted is what is still held, not garbage.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/**
 * Bytes of Buffers/ArrayBuffers alive (socket write queues hold their data here), after full
 * collections (an ArrayBuffer's memory is released after its finalizer, on a later turn).
 */
async function heldBuffers (): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await sleep(20)
  }
  return process.memoryUsage().arrayBuffers
}

for (const protocolVersion of [5, 4] as const) {
  test(`v${protocolVersion}: a subscriber that never reads: memory stays bounded, it is dropped then disconnected, a normal subscriber gets everything`, async (t) => {
    const { node, url, mqttPort, httpPort } = await startTestNode(t, {
      'limits.maxOutboundBufferBytes': BOUND,
      'limits.slowReaderTimeoutMs': 500,
      'limits.maxPacketSize': 256 * 1024,
      'log.level': 'info'
    })
    // The slow reader: subscribes, then stops reading its socket.
    const { client: slow } = await rawMqttConnect(t, mqttPort, { protocolVersion, clientId: `slow-${protocolVersion}` })
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] } as Packet)
    await slow.next('suback')
    slow.socket.pause()
    const slowClient = node.broker.clients[`slow-${protocolVersion}`]
    assert.ok(slowClient !== undefined)
    let maxBuffered = 0
    const watcher = setInterval(() => { maxBuffered = Math.max(maxBuffered, slowClient.conn.writableLength) }, 5)
    t.after(() => clearInterval(watcher))
    const normal = await connectClient(t, url, { protocolVersion: 5, clientId: `normal-${protocolVersion}` })
    const got = collect(normal)
    await normal.subscribeAsync('flood/#', { qos: 0 })
    const publisher = await connectClient(t, url, { protocolVersion: 5, clientId: `flooder-${protocolVersion}` })

    const buffersBefore = await heldBuffers()
    const rssBefore = process.memoryUsage().rss
    let rssPeak = rssBefore
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, process.memoryUsage().rss) }, 20)
    t.after(() => clearInterval(sampler))
    const payload = Buffer.alloc(SIZE, 0x61)
    const started = Date.now()
    for (let i = 0; i < MESSAGES; i++) {
      await publisher.publishAsync(`flood/${i % 8}`, payload, { qos: 0 })
      // A steady stream (~30 MB/s) rather than one burst: a reader that reads keeps up with it
      // (this process runs the broker and both clients), and it lasts longer than slowReaderTimeoutMs.
      if (i % 8 === 7) await sleep(20)
    }
    const publishMs = Date.now() - started
    await waitFor(() => got.length >= MESSAGES, 20_000, `${MESSAGES} messages at the normal subscriber`)
    clearInterval(sampler)
    clearInterval(watcher)
    const normalCount = got.length
    got.length = 0 // the test's own copies are not the broker's memory
    await waitFor(() => slowClient.conn.destroyed, 5000, 'the slow reader\'s socket destroyed')
    const held = (await heldBuffers() - buffersBefore) / 1024 / 1024
    const rssAfter = process.memoryUsage().rss

    const samples = await scrape(httpPort)
    const dropped = value(samples, 'starling_messages_dropped_total', { reason: 'slow_reader' })
    assert.ok(dropped > 0 && dropped < MESSAGES, `${dropped} QoS 0 messages dropped for the slow reader`)
    assert.equal(value(samples, 'starling_limit_hits_total', { limit: 'slow_reader_drop' }), dropped)
    await waitFor(() => node.broker.clients[`slow-${protocolVersion}`] === undefined, 5000, 'the slow reader disconnected')
    assert.equal(value(await scrape(httpPort), 'starling_limit_hits_total', { limit: 'slow_reader_disconnect' }), 1)
    assert.equal(normalCount, MESSAGES, 'the normal subscriber got every message, none twice')
    assert.ok(publisher.connected && normal.connected)
    // 800 × 64 KiB is 50 MiB. Buffered for a slow reader it stays in memory until aedes' 60 s drain
    // timeout (measured without the bound: ~50 MiB held, RSS +108 MiB); bounded, nothing is held
    // once the flood is over and the slow reader is gone, and the peak is the 4 MiB buffer plus
    // garbage not yet collected.
    const growth = (rssPeak - rssBefore) / 1024 / 1024
    t.diagnostic(`slow reader's socket buffer at most ${(maxBuffered / 1048576).toFixed(2)} MiB; buffers held after: +${held.toFixed(1)} MiB; RSS before ${(rssBefore / 1048576).toFixed(0)} MiB, peak +${growth.toFixed(1)} MiB, after +${((rssAfter - rssBefore) / 1048576).toFixed(1)} MiB; dropped ${dropped}; publishing took ${publishMs} ms`)
    // The bound plus one message (written when the buffer was just under it).
    assert.ok(maxBuffered <= BOUND + SIZE + 64, `slow reader's socket buffered ${maxBuffered} bytes`)
    assert.ok(held < 8, `+${held.toFixed(1)} MiB of buffers still held after the flood`)
    assert.ok(growth < 100, `RSS peak grew by ${growth.toFixed(1)} MiB`)
  })
}

test('QoS 1: a subscriber that never reads gets at most the buffer bound plus one message in its socket buffer; the rest wait (bounded by limits.maxQueuedMessages), others get everything', async (t) => {
  const { node, url, mqttPort, httpPort } = await startTestNode(t, {
    'limits.maxOutboundBufferBytes': BOUND,
    'limits.slowReaderTimeoutMs': 60_000,
    'limits.maxQueuedMessages': 100,
    'limits.maxPacketSize': 256 * 1024,
    'log.level': 'info'
  })
  // No Receive Maximum in its CONNECT: 65,535 messages may be in flight to it [MQTT-3.1.2.11.3].
  const { client: slow } = await rawMqttConnect(t, mqttPort, { protocolVersion: 5, clientId: 'slow-qos1' })
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood1/#', qos: 1 }] } as Packet)
  await slow.next('suback')
  slow.socket.pause()
  const normal = await connectClient(t, url, { protocolVersion: 5, clientId: 'normal-qos1' })
  const got = collect(normal)
  await normal.subscribeAsync('flood1/#', { qos: 1 })
  const slowClient = node.broker.clients['slow-qos1'] as (typeof node.broker.clients)[string] & { _outWaiting: unknown[], _outWaitingHead: number }
  let maxBuffered = 0
  let maxWaiting = 0
  const watcher = setInterval(() => {
    maxBuffered = Math.max(maxBuffered, slowClient.conn.writableLength)
    maxWaiting = Math.max(maxWaiting, slowClient._outWaiting.length - slowClient._outWaitingHead)
  }, 5)
  t.after(() => clearInterval(watcher))
  const publisher = await connectClient(t, url, { protocolVersion: 5, clientId: 'flooder-qos1' })
  const payload = Buffer.alloc(SIZE, 0x62)
  for (let i = 0; i < 400; i++) {
    // A fresh payload each time, as messages from the network are.
    await publisher.publishAsync('flood1/x', Buffer.from(payload), { qos: 1 })
    if (i % 10 === 9) await sleep(20)
  }
  await waitFor(() => got.length >= 400, 20_000, '400 messages at the normal subscriber')
  clearInterval(watcher)
  // Unbounded, all 400 × 64 KiB (25 MiB) would sit in the slow reader's socket buffer.
  t.diagnostic(`slow QoS 1 reader: socket buffer at most ${(maxBuffered / 1048576).toFixed(2)} MiB, at most ${maxWaiting} messages waiting`)
  assert.ok(maxBuffered <= BOUND + SIZE + 64, `slow reader's socket buffered ${maxBuffered} bytes`)
  assert.ok(maxWaiting <= 100, `${maxWaiting} messages waiting`)
  assert.equal(got.length, 400)
  assert.equal(slow.closed, false, 'still connected (slowReaderTimeoutMs not reached)')
  assert.ok(value(await scrape(httpPort), 'starling_messages_dropped_total', { reason: 'queue_full' }) > 0, 'messages beyond the waiting bound dropped and counted')
})
