import { createServer } from 'node:net'
import { pathToFileURL } from 'node:url'
import type { Aedes as AedesClass } from 'aedes'

/**
 * Bare aedes for the benchmark: `Aedes.createBroker()` behind `net.createServer(broker.handle)`,
 * no hooks, no persistence options. It is the repo's node_modules/aedes, so Starling's aedes
 * patches are included; the difference to Starling is our hooks, listeners and metrics.
 * Prints `{"port":N}` once listening on 127.0.0.1; exits on SIGTERM/SIGINT.
 */
// BENCH_AEDES_MODULE: another aedes entry file (`--brokers aedes-npm`: aedes as published, unpatched)
const modulePath = process.env.BENCH_AEDES_MODULE
const { Aedes } = (modulePath !== undefined ? await import(pathToFileURL(modulePath).href) : await import('aedes')) as { Aedes: typeof AedesClass }
// BENCH_AEDES_CONCURRENCY overrides aedes' mqemitter concurrency (default 100) for experiments
const concurrency = process.env.BENCH_AEDES_CONCURRENCY
const broker = await Aedes.createBroker(concurrency !== undefined ? { concurrency: Number(concurrency) } : {})
// noDelay as Starling's TCP listener sets it, so the comparison is about hooks, not Nagle
const server = createServer({ noDelay: true }, broker.handle)
server.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  process.stdout.write(JSON.stringify({ port }) + '\n')
})

const stop = (): void => {
  server.close()
  broker.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
