import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ISubackPacket } from 'mqtt-packet'
import { collect, connectClient, waitFor } from '../helpers/clients.js'
import { startTestNode } from '../helpers/node.js'
import { rawMqttConnect } from '../helpers/raw-client.js'

// The broker's own topics, `$SYS/...` and `$trigger/...`, are read only with an explicit grant:
// with no rule allowing them a subscription to them is refused (0x87 / 0x80), whatever else the
// ACL says; `allow subscribe $SYS/#` grants `$SYS` and nothing of `$trigger` (README "Access control").

const SERVER_FILTERS = ['$SYS/#', '$SYS/+/new/clients', '$trigger/#', '$trigger/x', '$share/g/$SYS/#']

for (const protocolVersion of [4, 5] as const) {
  const refused = protocolVersion === 5 ? 0x87 : 0x80
  const v = `v${protocolVersion}`

  test(`${v}: with no ACL rule, $SYS and $trigger subscriptions are refused; ordinary and other $ filters granted`, async (t) => {
    const { mqttPort } = await startTestNode(t)
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `srv${protocolVersion}`, protocolVersion })
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [...SERVER_FILTERS, '#', '+/x', '$app/#'].map((topic) => ({ topic, qos: 0 as const })) })
    const suback = await client.next<ISubackPacket>('suback')
    assert.deepEqual(suback.granted, [...SERVER_FILTERS.map(() => refused), 0, 0, 0])
  })

  test(`${v}: allow subscribe $SYS/# grants $SYS (and its messages arrive), not $trigger`, async (t) => {
    const node = await startTestNode(t, { nodeId: 'sys-node', acl: [{ action: 'subscribe', topic: '$SYS/#', allow: true }] })
    const { client } = await rawMqttConnect(t, node.mqttPort, { clientId: `sysok${protocolVersion}`, protocolVersion })
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: SERVER_FILTERS.map((topic) => ({ topic, qos: 0 as const })) })
    const suback = await client.next<ISubackPacket>('suback')
    assert.deepEqual(suback.granted, [0, 0, refused, refused, 0])

    const watcher = await connectClient(t, node.url, { protocolVersion, clientId: `sysw${protocolVersion}` })
    const got = collect(watcher)
    await watcher.subscribeAsync('$SYS/+/new/clients', { qos: 0 })
    await connectClient(t, node.url, { protocolVersion, clientId: `newcomer${protocolVersion}` })
    await waitFor(() => got.some((m) => m.topic === '$SYS/sys-node/new/clients' && m.payload.toString() === `newcomer${protocolVersion}`), 5000, 'the $SYS event')
  })

  test(`${v}: a grant of a narrower $SYS filter, through an "all" rule, grants only what it names`, async (t) => {
    const { mqttPort } = await startTestNode(t, { acl: [{ action: 'all', topic: '$SYS/+/new/#', allow: true }, { action: 'subscribe', topic: '$trigger/#', allow: true }] })
    const { client } = await rawMqttConnect(t, mqttPort, { clientId: `sysn${protocolVersion}`, protocolVersion })
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['$SYS/+/new/clients', '$SYS/x/disconnect/clients', '$SYS/#', '$trigger/x'].map((topic) => ({ topic, qos: 0 as const })) })
    const suback = await client.next<ISubackPacket>('suback')
    // `$SYS/#` can match a granted topic ($SYS/<pod>/new/...): granted, and delivery keeps the rest out
    assert.deepEqual(suback.granted, [0, refused, 0, 0])
  })
}
