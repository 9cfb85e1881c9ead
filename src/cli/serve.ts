import { parseCommandArgs } from './args.js'
import { loadConfig } from '../config/load.js'
import { StarlingNode } from '../node.js'
import { installProcessPolicy } from '../process-policy.js'
import { applyHeapDefaults } from '../heap-tuning.js'
import { startHeapModeSwitch } from '../heap-mode.js'

/** Flags of `starling serve`, each mapped to its config path. The operators' contract: keep it. */
const SERVE_FLAGS = {
  'mqtt-port': 'mqtt.port',
  'ws-port': 'ws.port',
  'http-port': 'http.port',
  'node-id': 'nodeId',
  'redis-url': 'redis.url'
} as const

export const SERVE_USAGE = 'usage: starling serve [--config FILE] [--mqtt-port N] [--ws-port N] [--http-port N] [--node-id ID] [--redis-url URL]'

function flagValue (path: string, raw: string): unknown {
  if (path.endsWith('port') && /^\d+$/.test(raw)) return Number(raw)
  return raw
}

/** Parses `serve` arguments into config sources; throws STARLING_ERR_CLI_USAGE on unknown flags. */
export function parseServeArgs (argv: readonly string[]): { file?: string, flags: Record<string, unknown> } {
  const parsed = parseCommandArgs(argv, {
    config: { type: 'string', short: 'c' },
    ...Object.fromEntries(Object.keys(SERVE_FLAGS).map((name) => [name, { type: 'string' as const }]))
  }, SERVE_USAGE)
  const values = parsed.values as Record<string, string | undefined>
  const flags: Record<string, unknown> = {}
  for (const [flag, path] of Object.entries(SERVE_FLAGS)) {
    const raw = values[flag]
    if (raw !== undefined) flags[path] = flagValue(path, raw)
  }
  return { ...(values.config !== undefined ? { file: values.config } : {}), flags }
}

/** `starling serve`: config → node → signals. Resolves once the node has drained. */
export async function serve (argv: readonly string[]): Promise<void> {
  const { file, flags } = parseServeArgs(argv)
  const config = loadConfig({ ...(file !== undefined ? { file } : {}), env: process.env, flags })
  // before the node allocates: the growing factor applies from the next GC on
  const heapFlags = applyHeapDefaults()
  const node = await StarlingNode.start(config)
  node.logger.debug({ v8: heapFlags, execArgv: process.execArgv }, 'heap settings')
  // V8's own growing while messages stream through the pod or devices connect in a storm, the
  // lean defaults when it is idle
  const heapMode = startHeapModeSwitch({
    applied: heapFlags,
    messages: () => {
      let total = 0
      for (const { totals } of node.quotas.counters()) total += totals.messagesIn + totals.messagesOut
      return total
    },
    connects: () => {
      let total = 0
      for (const count of node.metrics.connectionCounts.values()) total += count.accepted
      return total
    },
    onChange: (mode) => { node.logger.debug({ mode }, 'heap mode') }
  })
  // one second past the drain's own bound (the node destroys what is left at drainSeconds)
  installProcessPolicy({ logger: node.logger, faults: node.metrics.faults, drain: async () => { heapMode.stop(); await node.close() }, drainMs: (config.drainSeconds + 1) * 1000 })

  await new Promise<void>((resolve) => {
    let signalled = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        node.logger.warn({ signal }, 'second signal, exiting now')
        process.exit(1)
      }
      signalled = true
      node.logger.info({ signal, drainSeconds: config.drainSeconds }, 'draining')
      heapMode.stop()
      node.close().then(resolve, (err: unknown) => {
        node.logger.error({ err }, 'drain failed')
        resolve()
      })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  node.logger.flush()
}
