import { parseArgs, type ParseArgsConfig } from 'node:util'
import { StarlingError } from '../errors.js'

/**
 * `node:util` parseArgs in strict mode, with a parse failure reported as STARLING_ERR_CLI_USAGE
 * followed by the command's usage text (the CLI exits 2 on it).
 */
export function parseCommandArgs<O extends NonNullable<ParseArgsConfig['options']>> (
  argv: readonly string[], options: O, usage: string, allowPositionals = false
): ReturnType<typeof parseArgs<{ args: string[], options: O, strict: true, allowPositionals: boolean }>> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals })
  } catch (err) {
    throw new StarlingError('STARLING_ERR_CLI_USAGE', [`${(err as Error).message}\n${usage}`], { cause: err })
  }
}
