import { parseArgs } from 'node:util'

/**
 * The bench CLIs' options: every `names` option takes a string value, every `flags` option is a
 * boolean; `-h`/`--help` prints `usage` and exits. Unknown options throw (strict).
 */
export function parseCliOptions (argv: string[], usage: string, names: readonly string[]): Record<string, string>
export function parseCliOptions (argv: string[], usage: string, names: readonly string[], flags: readonly string[]): Record<string, string | boolean>
export function parseCliOptions (argv: string[], usage: string, names: readonly string[], flags: readonly string[] = []): Record<string, string | boolean> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...Object.fromEntries(names.map((n) => [n, { type: 'string' as const }])),
      ...Object.fromEntries(flags.map((n) => [n, { type: 'boolean' as const }])),
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(usage + '\n')
    process.exit(0)
  }
  return values as Record<string, string | boolean>
}

/** Option `name` as an integer ≥ `min` (default 1), or `fallback` when it is absent. */
export function intOption (o: Record<string, string | boolean>, name: string, fallback: number, usage: string, min = 1): number {
  const n = Number(o[name] ?? fallback)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}\n${usage}`)
  return n
}
