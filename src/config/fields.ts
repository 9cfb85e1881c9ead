import type { z } from 'zod'
import { configSchema } from './schema.js'

/** A leaf of the config schema, with everything the loader, the env mapping and the docs need. */
export interface ConfigField {
  /** Dotted path, e.g. `limits.maxPacketSize`. */
  readonly path: string
  readonly env: string
  readonly kind: 'number' | 'boolean' | 'string' | 'enum' | 'json'
  readonly description: string
  readonly defaultValue: unknown
  /** The default is computed at start (e.g. from the host name), so docs show no literal. */
  readonly computedDefault: boolean
  readonly choices?: readonly string[]
  /** Other environment variables read when `env` is unset (names a product document uses). */
  readonly envAliases?: readonly string[]
}

interface ZodLike {
  readonly description?: string
  readonly _zod: { readonly def: Record<string, unknown> & { readonly type: string } }
}

const ENV_PREFIX = 'STARLING_'

/** Leaves whose default depends on the machine (zod hides whether a default is a function). */
const COMPUTED_DEFAULTS = new Set(['nodeId'])

/** Leaves also read from a second environment variable: issue 11 names the secret `STARLING_SECRET_KEY`. */
const ENV_ALIASES: Readonly<Record<string, readonly string[]>> = { 'auth.secretKey': ['STARLING_SECRET_KEY'] }

export function envName (path: string): string {
  return ENV_PREFIX + path.split('.').map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')
}

function unwrap (schema: ZodLike): { inner: ZodLike, defaultValue: unknown, description: string | undefined } {
  let current = schema
  let defaultValue: unknown
  let description = schema.description
  for (;;) {
    const def = current._zod.def
    if (def.type === 'default' || def.type === 'prefault') {
      defaultValue = def.defaultValue
    } else if (def.type !== 'optional' && def.type !== 'nullable') {
      break
    }
    current = def.innerType as ZodLike
    description ??= current.description
  }
  return { inner: current, defaultValue, description }
}

function leafKind (inner: ZodLike): ConfigField['kind'] {
  switch (inner._zod.def.type) {
    case 'number': return 'number'
    case 'boolean': return 'boolean'
    case 'string': return 'string'
    case 'enum': return 'enum'
    default: return 'json'
  }
}

function walk (schema: ZodLike, prefix: string[], out: ConfigField[]): void {
  const { inner, defaultValue, description } = unwrap(schema)
  if (inner._zod.def.type === 'object') {
    const shape = inner._zod.def.shape as Record<string, ZodLike>
    for (const [key, child] of Object.entries(shape)) walk(child, [...prefix, key], out)
    return
  }
  const path = prefix.join('.')
  const kind = leafKind(inner)
  const field: ConfigField = {
    path,
    env: envName(path),
    kind,
    description: description ?? '',
    defaultValue,
    computedDefault: COMPUTED_DEFAULTS.has(path),
    ...(kind === 'enum' ? { choices: Object.values(inner._zod.def.entries as Record<string, string>) } : {}),
    ...(ENV_ALIASES[path] !== undefined ? { envAliases: ENV_ALIASES[path] } : {})
  }
  out.push(field)
}

let cached: readonly ConfigField[] | undefined

export function configFields (): readonly ConfigField[] {
  if (cached === undefined) {
    const out: ConfigField[] = []
    walk(configSchema as unknown as ZodLike, [], out)
    cached = Object.freeze(out)
  }
  return cached
}

export type ConfigSchema = z.infer<typeof configSchema>
