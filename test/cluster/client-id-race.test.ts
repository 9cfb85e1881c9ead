import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Packet } from 'mqtt-packet'
import { startTestNode } from '../helpers/node.js'
import { rawConnect, type RawClient } from '../helpers/raw-client.js'
import { startRedis } from '../helpers/redis.js'

// `clientIdConflict: reject` across pods is one atomic claim per client id: two CONNECTs with the
// same id arriving at the same moment on two pods never both pass. Exactly one gets CONNACK 0,
// the other 0x85 (v5) / return code 2 (3.1.1), round after round.

const ROUNDS = 20

function code (connack: Packet, version: 4 | 5): number {
  const ack = connack as { reasonCode?: number, returnCode?: number }
  return (version === 5 ? ack.reasonCode : ack.returnCode) ?? -1
}

test('cluster: two simultaneous CONNECTs with one client id on two pods, exactly one wins (clientIdConflict reject)', async (t) => {
  const redis = await startRedis(t)
  const common = { 'redis.url': redis.url, clientIdConflict: 'reject', 'cluster.heartbeatMs': 200, 'log.level': 'warn' }
  const a = await startTestNode(t, { ...common, nodeId: 'race-a' })
  const b = await startTestNode(t, { ...common, nodeId: 'race-b' })

  const outcomes: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const version: 4 | 5 = round % 2 === 0 ? 5 : 4
    const clientId = `race-${round}`
    const sockets: RawClient[] = await Promise.all([rawConnect(t, a.mqttPort, version), rawConnect(t, b.mqttPort, version)])
    // Both CONNECTs leave in the same tick.
    for (const socket of sockets) {
      socket.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean: true, keepalive: 60, clientId } as Packet)
    }
    const codes = await Promise.all(sockets.map(async (socket) => code(await socket.next('connack'), version)))
    const refused = version === 5 ? 0x85 : 2
    outcomes.push(`${clientId}: ${codes.join('/')}`)
    assert.deepEqual([...codes].sort((x, y) => x - y), [0, refused], `exactly one accepted in round ${round} (${outcomes.join(', ')})`)
    for (const socket of sockets) socket.destroy()
  }

  // The id is released when its connection ends: the next CONNECT on either pod is accepted.
  const again = await rawConnect(t, b.mqttPort, 5)
  let accepted = -1
  for (let attempt = 0; attempt < 30 && accepted !== 0; attempt++) {
    const socket = attempt === 0 ? again : await rawConnect(t, attempt % 2 === 0 ? b.mqttPort : a.mqttPort, 5)
    socket.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: `race-${ROUNDS - 1}` } as Packet)
    accepted = code(await socket.next('connack'), 5)
    if (accepted !== 0) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  assert.equal(accepted, 0, 'the id is free once the winner has gone')
  // Drain both nodes while Redis still runs (the after hooks stop Redis first).
  await Promise.all([a.node.close(), b.node.close()])
})
