import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IClientOptions } from 'mqtt'
import { collect, connectClient, refusedCode, sleep, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'

// A will is a message the client asks the broker to publish for it, so its topic is checked
// against the client's publish rules when the CONNECT is handled: a will on a topic the client
// may not publish to refuses the connection, CONNACK 0x87 Not authorized (MQTT 5 §3.2.2.2) /
// return code 5 (3.1.1 §3.2.2.3). The check at publication stays (wills of sessions stored before).

const ACL = { acl: [{ action: 'publish', topic: 'readonly/#', allow: false }, { action: 'subscribe', topic: 'secret/#', allow: false }] }

const will = (topic: string): IClientOptions['will'] => ({ topic, payload: Buffer.from('bye'), qos: 1, retain: false }) as IClientOptions['will']

for (const protocolVersion of [4, 5] as const) {
  const v = `v${protocolVersion}`

  test(`${v}: a will on a topic the client may not publish to refuses the CONNECT (${protocolVersion === 5 ? '0x87' : '5'})`, async (t) => {
    const node = await startTestNode(t, ACL)
    const code = await refusedCode(node.url, { protocolVersion, clientId: `wd${protocolVersion}`, will: will('readonly/state') })
    assert.equal(code, protocolVersion === 5 ? 0x87 : 5)
    assert.equal(node.node.broker.clients[`wd${protocolVersion}`], undefined)
  })

  test(`${v}: with no ACL rule a will into $SYS or to a $share name is refused too`, async (t) => {
    const node = await startTestNode(t)
    for (const topic of ['$SYS/x/state', '$share/g/t']) {
      assert.equal(await refusedCode(node.url, { protocolVersion, clientId: `wsys${protocolVersion}`, will: will(topic) }), protocolVersion === 5 ? 0x87 : 5, topic)
    }
  })

  test(`${v}: a will on an allowed topic connects and is published; a subscribe-only deny does not refuse it`, async (t) => {
    const node = await startTestNode(t, ACL)
    const watcher = await connectClient(t, node.url, { protocolVersion, clientId: `ww${protocolVersion}` })
    const got = collect(watcher)
    await watcher.subscribeAsync('#', { qos: 1 })
    const client = await connectClient(t, node.url, { protocolVersion, clientId: `wa${protocolVersion}`, will: will('public/will') })
    const readerOnlyDenied = await connectClient(t, node.url, { protocolVersion, clientId: `ws${protocolVersion}`, will: will('secret/will') })
    client.stream.destroy()
    readerOnlyDenied.stream.destroy()
    await waitFor(() => got.some((m) => m.topic === 'public/will'), 5000, 'the will')
    await sleep(100)
    assert.deepEqual(got.map((m) => m.topic).sort(), ['public/will'], 'secret/will is published but the watcher may not read it')
  })
}
