// Packets a client writes behind its CONNECT, in reads of their own while the CONNECT is still being
// decided (a slow preConnect here), wait for its outcome: handled after the CONNACK when it is
// accepted, never when it is refused [MQTT-3.1.4-5] [MQTT-3.1.4-7]. Before our patch aedes handled
// them at once, with no client id yet (an UNSUBSCRIBE event with a null id crashed the fuzz run).
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { test, type TestContext } from 'node:test'
import { createEngine, type Client, type Engine } from '../../src/broker/engine.js'
import { sleep } from '../helpers/clients.js'
import { rawConnect, type RawClient } from '../helpers/raw-client.js'

const PRE_CONNECT_MS = 150

async function slowConnectEngine (t: TestContext, accept: boolean): Promise<{ engine: Engine, port: number, unsubscribedBy: Array<string | null> }> {
  const engine = createEngine({
    preConnect: (_client, _packet, done) => { setTimeout(() => done(null, true), PRE_CONNECT_MS) },
    authenticate: (_client, _username, _password, done) => {
      if (accept) done(null, true)
      else done(Object.assign(new Error('refused'), { returnCode: 5 }), null)
    }
  })
  await engine.listen() // sets up the persistence (in memory)
  const unsubscribedBy: Array<string | null> = []
  engine.on('unsubscribe', (_topics: readonly string[], client: Client) => { unsubscribedBy.push(client.id) })
  const server = createServer((socket) => { engine.handle(socket) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(async () => {
    server.close()
    await new Promise<void>((resolve) => { engine.close(() => resolve()) })
  })
  return { engine, port: (server.address() as AddressInfo).port, unsubscribedBy }
}

async function connectThenMore (t: TestContext, port: number): Promise<RawClient> {
  const client = await rawConnect(t, port, 4)
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'early' })
  await sleep(40) // the CONNECT is read and waits in preConnect; what follows comes in reads of its own
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'early/#', qos: 1 }] })
  await sleep(10)
  client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['early/none'] })
  await sleep(10)
  client.send({ cmd: 'publish', topic: 'early/x', payload: Buffer.from('p'), qos: 1, messageId: 3, retain: false, dup: false })
  return client
}

test('a refused CONNECT: nothing written behind it is handled, no event names a client without an id [MQTT-3.1.4-5]', async (t) => {
  const { port, unsubscribedBy } = await slowConnectEngine(t, false)
  const client = await connectThenMore(t, port)
  const connack = await client.next('connack') as { returnCode?: number }
  assert.equal(connack.returnCode, 5)
  await client.waitClosed()
  assert.deepEqual(client.received.map((p) => p.cmd), ['connack'])
  assert.deepEqual(unsubscribedBy, [])
})

test('an accepted CONNECT: what was written behind it is handled after the CONNACK, in order, under the client\'s id', async (t) => {
  const { port, unsubscribedBy } = await slowConnectEngine(t, true)
  const client = await connectThenMore(t, port)
  await client.next('publish') // its own message, on the subscription made before the CONNACK
  await client.next('puback')
  const cmds = client.received.map((p) => p.cmd)
  assert.equal(cmds[0], 'connack', cmds.join(', '))
  // each answered once (aedes handles the waiting packets together: their acks may cross)
  assert.deepEqual(cmds.slice(1).filter((cmd) => cmd !== 'publish').sort(), ['puback', 'suback', 'unsuback'], cmds.join(', '))
  assert.deepEqual(unsubscribedBy, ['early'])
})
