/**
 * The `config` part of helm/starling/values.schema.json is Starling's own config schema
 * (src/config/schema.ts) as JSON Schema, so `helm install` rejects a misspelt or mistyped option
 * before any pod starts. Helm reads only files inside the chart, hence a copy:
 * `node --import tsx test/deploy/values-schema.ts --write` refreshes it, and
 * test/deploy/helm.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { configSchema } from '../../src/config/schema.js'

export const VALUES_SCHEMA_FILE = fileURLToPath(new URL('../../helm/starling/values.schema.json', import.meta.url))

/** Structure and constraints only: defaults (some computed on this machine) and descriptions are left out. */
function strip (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strip)
  if (node === null || typeof node !== 'object') return node
  return Object.fromEntries(Object.entries(node)
    .filter(([key]) => key !== 'default' && key !== 'description' && key !== '$schema')
    .map(([key, value]) => [key, strip(value)]))
}

export function starlingConfigJsonSchema (): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' })
  return { ...(strip(schema) as Record<string, unknown>), description: 'Starling\'s own settings (src/config/schema.ts); ports, TLS files, Redis addresses, drainSeconds and nodeId are set by the chart' }
}

export function valuesSchema (): { properties: Record<string, unknown> } & Record<string, unknown> {
  return JSON.parse(readFileSync(VALUES_SCHEMA_FILE, 'utf8')) as { properties: Record<string, unknown> } & Record<string, unknown>
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv.includes('--write')) {
  const schema = valuesSchema()
  schema.properties.config = starlingConfigJsonSchema()
  writeFileSync(VALUES_SCHEMA_FILE, JSON.stringify(schema, null, 2) + '\n')
}
