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

// A full collection before each measure, so what is counted is what is still held, not garbage.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Bytes of Buffers/ArrayBuffers alive (socket write queues hold their data here), after a full GC. */
function heldBuffers (): number {
  gc()
  return process.memoryUsage().arrayBuffers
}

for (const protocolVersion of [5, 4] as const) {
  test(`v${protocolVersion}: a subscriber that never reads: memory stays bounded, it is dropped then disconnected, a normal subscriber gets everything`, async (t) => {
    const { node, url, mqttPort, httpPort } = await startTestNode(t, {
      'limits.maxOutboundBufferBytes': 2 * 1024 * 1024,
      'limits.slowReaderTimeoutMs': 500,
      'limits.maxPacketSize': 256 * 1024,
      'log.level': 'info'
    })
    // The slow reader: subscribes, then stops reading its socket.
    const { client: slow } = await rawMqttConnect(t, mqttPort, { protocolVersion, clientId: `slow-${protocolVersion}` })
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] } as Packet)
    await slow.next('suback')
    slow.socket.pause()
    const normal = await connectClient(t, url, { protocolVersion: 5, clientId: `normal-${protocolVersion}` })
    const got = collect(normal)
    await normal.subscribeAsync('flood/#', { qos: 0 })
    const publisher = await connectClient(t, url, { protocolVersion: 5, clientId: `flooder-${protocolVersion}` })

    const buffersBefore = heldBuffers()
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
      if (i % 10 === 9) await sleep(20)
    }
    const publishMs = Date.now() - started
    await waitFor(() => got.length >= MESSAGES, 20_000, `${MESSAGES} messages at the normal subscriber`)
    clearInterval(sampler)
    const normalCount = got.length
    got.length = 0 // the test's own copies are not the broker's memory
    const held = (heldBuffers() - buffersBefore) / 1024 / 1024
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
    // once the flood is over and the slow reader is gone, and the peak is the 2 MiB buffer plus
    // garbage not yet collected.
    const growth = (rssPeak - rssBefore) / 1024 / 1024
    t.diagnostic(`buffers held after: +${held.toFixed(1)} MiB; RSS before ${(rssBefore / 1048576).toFixed(0)} MiB, peak +${growth.toFixed(1)} MiB, after +${((rssAfter - rssBefore) / 1048576).toFixed(1)} MiB; dropped ${dropped}; publishing took ${publishMs} ms`)
    assert.ok(held < 8, `+${held.toFixed(1)} MiB of buffers still held after the flood`)
    assert.ok(growth < 100, `RSS peak grew by ${growth.toFixed(1)} MiB`)
  })
}
