#!/usr/bin/env node
import { StarlingError } from '../errors.js'
import { serve, SERVE_USAGE } from './serve.js'
import { clusterCommand, CLUSTER_USAGE } from './cluster-status.js'
import { localCluster, LOCAL_CLUSTER_USAGE } from './local-cluster.js'
import { pubsubCommand } from './pubsub.js'

const USAGE = `usage: starling <command>

commands:
  serve    run a broker pod
           ${SERVE_USAGE.replace('usage: ', '')}
  cluster  list the live pods of a cluster (from Redis)
           ${CLUSTER_USAGE.replace('usage: ', '')}
  local-cluster
           run Redis, N pods and HAProxy on loopback until Ctrl-C
           ${LOCAL_CLUSTER_USAGE.replace('usage: ', '')}
  pubsub   manage namespaces, brokers and client tokens through the management API
           starling pubsub <namespace|broker> <action> ... (starling pubsub help)
`

/** Reports a failure as one line with its code and exits non-zero (2 for usage/config, 1 otherwise). */
function fail (err: unknown): never {
  if (err instanceof StarlingError) {
    process.stderr.write(`starling: ${err.code}: ${err.message}\n`)
    const usage = err.code === 'STARLING_ERR_CLI_USAGE' || err.code.startsWith('STARLING_ERR_CONFIG')
    process.exit(usage ? 2 : 1)
  }
  process.stderr.write(`starling: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
}

async function run (argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'serve':
      await serve(rest)
      process.exit(0)
      break
    case 'cluster':
      await clusterCommand(rest)
      break
    case 'pubsub':
      await pubsubCommand(rest)
      break
    case 'local-cluster':
      process.exit(await localCluster(rest))
      break
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE)
      break
    default:
      throw new StarlingError('STARLING_ERR_CLI_USAGE', [`unknown command "${command}"\n${USAGE}`])
  }
}

run(process.argv.slice(2)).catch(fail)
