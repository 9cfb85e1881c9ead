import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { StarlingError } from '../errors.js'
import { configFields, type ConfigField } from './fields.js'
import { configSchema, type StarlingConfig } from './schema.js'

/** Where a configured value came from, so an error can say which knob to turn. */
type Source = 'file' | 'env' | 'flag'

export interface ConfigSources {
  /** Path of a YAML (or JSON) config file. */
  readonly file?: string
  /** Environment, usually `process.env`; only `STARLING_*` names are read. */
  readonly env?: NodeJS.ProcessEnv
  /** Values from command-line flags, keyed by dotted path (`mqtt.port`). */
  readonly flags?: Readonly<Record<string, unknown>>
  /** Values set by code (tests, embedding), merged last. */
  readonly overrides?: Readonly<Record<string, unknown>>
}

type Tree = Record<string, unknown>

function setPath (tree: Tree, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = tree
  for (const part of parts.slice(0, -1)) {
    const next = node[part]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[part] = {}
    node = node[part] as Tree
  }
  node[parts[parts.length - 1] as string] = value
}

function mergeInto (target: Tree, source: Tree): Tree {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key]
    if (value !== null && typeof value === 'object' && !Array.isArray(value) &&
        existing !== null && typeof existing === 'object' && !Array.isArray(existing)) {
      mergeInto(existing as Tree, value as Tree)
    } else {
      target[key] = value
    }
  }
  return target
}

function readFile (file: string): Tree {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new StarlingError('STARLING_ERR_CONFIG_FILE', [file, (err as Error).message], { cause: err })
  }
  let parsed: unknown
  try {
    parsed = parseYaml(text)
  } catch (err) {
    throw new StarlingError('STARLING_ERR_CONFIG_FILE', [file, (err as Error).message], { cause: err })
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new StarlingError('STARLING_ERR_CONFIG_FILE', [file, 'top level must be a mapping'])
  }
  return parsed as Tree
}

/** Turns an env string into the leaf's type; a value that does not convert is kept as is so the schema reports it. */
function fromEnv (field: ConfigField, raw: string): unknown {
  switch (field.kind) {
    case 'number': {
      const n = Number(raw)
      return raw.trim() === '' || Number.isNaN(n) ? raw : n
    }
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(raw)) return true
      if (/^(false|0|no|off)$/i.test(raw)) return false
      return raw
    case 'json':
      try { return JSON.parse(raw) } catch { return raw }
    default:
      return raw
  }
}

function describeSource (path: string, sources: Map<string, Source>): string {
  for (const [leaf, source] of sources) {
    if (path === leaf || path.startsWith(leaf + '.') || leaf.startsWith(path + '.')) {
      if (source === 'env') {
        const field = configFields().find((f) => f.path === leaf)
        return ` (from env ${field?.env ?? leaf})`
      }
      return ` (from ${source})`
    }
  }
  return ''
}

/**
 * Builds the configuration from defaults < file < env < flags < overrides, validates it once and
 * deep-freezes it. Every problem is reported in one StarlingError naming each field.
 */
export function loadConfig (sources: ConfigSources = {}): StarlingConfig {
  const tree: Tree = {}
  const origin = new Map<string, Source>()
  if (sources.file !== undefined) {
    mergeInto(tree, readFile(sources.file))
    for (const field of configFields()) origin.set(field.path, 'file')
  }
  const env = sources.env ?? {}
  for (const field of configFields()) {
    const raw = env[field.env] ?? field.envAliases?.map((alias) => env[alias]).find((value) => value !== undefined)
    if (raw !== undefined) {
      setPath(tree, field.path, fromEnv(field, raw))
      origin.set(field.path, 'env')
    }
  }
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    if (value === undefined) continue
    setPath(tree, path, value)
    origin.set(path, 'flag')
  }
  for (const [path, value] of Object.entries(sources.overrides ?? {})) {
    if (value !== undefined) setPath(tree, path, value)
  }

  const result = configSchema.safeParse(tree)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.join('.') || '(root)'
      return `${path}: ${issue.message}${describeSource(path, origin)}`
    })
    throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [problems.join('; ')])
  }
  return deepFreeze(result.data)
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value as object)) deepFreeze(child)
  }
  return value
}
