import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'

/**
 * Validation of rendered Kubernetes objects:
 *   - built-in kinds: the kubernetes-models class for the apiVersion/kind (`validate()`: types,
 *     required fields, enums, formats), plus unknown fields, which the models accept but an API
 *     server with strict field validation rejects: the allowed names come from the models'
 *     TypeScript declarations (`"field"?: Type` lines), walked along nested types;
 *   - the Prometheus Operator's CRDs (not in kubernetes-models): checked structurally.
 */

export type K8sObject = Record<string, unknown> & { apiVersion: string, kind: string, metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> } }

const require = createRequire(import.meta.url)
const modelsRoot = dirname(require.resolve('kubernetes-models/package.json'))
const nodeModules = dirname(modelsRoot)

/** Module path of the model class, e.g. `kubernetes-models/apps/v1/Deployment`. */
function modelPath (apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`
}

interface Shape { readonly fields: ReadonlyMap<string, string> }
const shapes = new Map<string, Shape | undefined>()

/** Fields of the first interface declared in a models `.d.ts` file, with each field's type text. */
function shapeOf (dts: string): Shape | undefined {
  if (shapes.has(dts)) return shapes.get(dts)
  const text = readFileSync(dts, 'utf8')
  const start = text.search(/^export interface \w+/m)
  let shape: Shape | undefined
  if (start >= 0) {
    const body = text.slice(start, text.indexOf('\n}', start))
    const fields = new Map<string, string>()
    for (const match of body.matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) fields.set(match[1] as string, (match[2] as string).replace(/;$/, ''))
    shape = { fields }
  }
  shapes.set(dts, shape)
  return shape
}

/** The `.d.ts` file an interface name used in `dts` is imported from, if any. */
function importedFrom (dts: string, typeName: string): string | undefined {
  const text = readFileSync(dts, 'utf8')
  const match = new RegExp(`^import \\{ ${typeName} \\} from "([^"]+)";`, 'm').exec(text)
  if (match === null) return undefined
  const spec = match[1] as string
  const base = spec.startsWith('.') ? resolve(dirname(dts), spec) : join(nodeModules, spec)
  return base.replace(/\.js$/, '') + '.d.ts'
}

function unknownFields (value: unknown, dts: string, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return
  const shape = shapeOf(dts)
  if (shape === undefined) return
  for (const [key, child] of Object.entries(value)) {
    const type = shape.fields.get(key)
    if (type === undefined) { out.push(`${path}.${key}: unknown field`); continue }
    const item = /^Array<(\w+)>$/.exec(type)
    const named = item?.[1] ?? (/^\w+$/.test(type) ? type : undefined)
    if (named === undefined) continue
    const childDts = importedFrom(dts, named)
    if (childDts === undefined) continue
    if (item !== undefined && Array.isArray(child)) child.forEach((element, i) => unknownFields(element, childDts, `${path}.${key}[${i}]`, out))
    else unknownFields(child, childDts, `${path}.${key}`, out)
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function checkCrd (obj: K8sObject): string[] {
  const errors: string[] = []
  const spec = obj.spec
  if (!isRecord(spec)) return ['spec: missing']
  if (obj.kind === 'ServiceMonitor') {
    if (!isRecord(spec.selector)) errors.push('spec.selector: missing')
    const endpoints = spec.endpoints
    if (!Array.isArray(endpoints) || endpoints.length === 0) errors.push('spec.endpoints: at least one')
    for (const [i, ep] of (Array.isArray(endpoints) ? endpoints : []).entries()) {
      if (!isRecord(ep) || typeof ep.port !== 'string') { errors.push(`spec.endpoints[${i}].port: a port name`); continue }
      for (const key of ['interval', 'scrapeTimeout']) {
        if (ep[key] !== undefined && !/^\d+(ms|s|m|h)$/.test(String(ep[key]))) errors.push(`spec.endpoints[${i}].${key}: a duration`)
      }
      // authorization: the operator's SafeAuthorization (type, credentials as a SecretKeySelector in the monitor's namespace).
      if (ep.authorization !== undefined) {
        const auth = ep.authorization
        const credentials = isRecord(auth) ? auth.credentials : undefined
        if (!isRecord(auth) || (auth.type !== undefined && typeof auth.type !== 'string') || !isRecord(credentials) ||
            typeof credentials.name !== 'string' || typeof credentials.key !== 'string') {
          errors.push(`spec.endpoints[${i}].authorization: { type, credentials: { name, key } }`)
        }
      }
      const allowed = new Set(['port', 'path', 'interval', 'scrapeTimeout', 'honorLabels', 'relabelings', 'metricRelabelings', 'scheme', 'authorization'])
      for (const key of Object.keys(ep)) if (!allowed.has(key)) errors.push(`spec.endpoints[${i}].${key}: unknown field`)
    }
  } else if (obj.kind === 'PrometheusRule') {
    const groups = spec.groups
    if (!Array.isArray(groups) || groups.length === 0) errors.push('spec.groups: at least one')
    for (const [i, group] of (Array.isArray(groups) ? groups : []).entries()) {
      if (!isRecord(group) || typeof group.name !== 'string' || !Array.isArray(group.rules)) { errors.push(`spec.groups[${i}]: name and rules`); continue }
      for (const [j, rule] of group.rules.entries()) {
        if (!isRecord(rule) || typeof rule.expr !== 'string' || (typeof rule.alert !== 'string' && typeof rule.record !== 'string')) {
          errors.push(`spec.groups[${i}].rules[${j}]: alert or record, and expr`)
        }
      }
    }
  } else {
    errors.push(`${obj.apiVersion} ${obj.kind}: no validator`)
  }
  return errors
}

/** Every problem with one rendered object (empty when it is valid). */
export async function validateObject (obj: K8sObject): Promise<string[]> {
  if (obj.apiVersion.startsWith('monitoring.coreos.com/')) return checkCrd(obj)
  let Model: new (data: unknown) => { validate (): void }
  try {
    const mod = await import(modelPath(obj.apiVersion, obj.kind)) as Record<string, new (data: unknown) => { validate (): void }>
    Model = mod[obj.kind] as typeof Model
  } catch {
    return [`${obj.apiVersion} ${obj.kind}: no kubernetes-models class`]
  }
  const errors: string[] = []
  try {
    new Model(obj).validate()
  } catch (err) {
    errors.push((err as Error).message)
  }
  unknownFields(obj, join(modelsRoot, `${obj.apiVersion}/${obj.kind}.d.ts`), obj.kind, errors)
  return errors
}
