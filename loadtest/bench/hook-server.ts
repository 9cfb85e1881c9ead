import { createServer } from 'node:http'

/**
 * Pass-through on-publish hook for `--brokers starling-hook`: answers every POST 200 with the
 * body it received (the messages unchanged), over kept-alive connections. It does not check the
 * signature: its CPU is the endpoint's, which runs elsewhere in production (a Worker), and on
 * this machine it competes with the broker. Prints {"port":N} once listening.
 */
const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    const body = Buffer.concat(chunks)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 }) + '\n')
})
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
