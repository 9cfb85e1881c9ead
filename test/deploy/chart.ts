import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { helm } from './helm-bin.js'
import type { K8sObject } from './k8s-validate.js'

/** Rendering helm/starling with `helm template` and picking objects out of the result. */

export const CHART_DIR = fileURLToPath(new URL('../../helm/starling/', import.meta.url))
export const CI_DIR = `${CHART_DIR}ci/`
export const RELEASE = 'rel'
export const NAMESPACE = 'mqtt'

/** The value sets under helm/starling/ci/ (each is linted and rendered by the tests). */
export function ciValueFiles (): string[] {
  return readdirSync(CI_DIR).filter((f) => f.endsWith('-values.yaml')).sort()
}

export interface RenderOptions {
  readonly valuesFile?: string
  readonly set?: readonly string[]
  readonly setJson?: readonly string[]
  readonly apiVersions?: readonly string[]
}

function renderArgs (command: string[], options: RenderOptions): string[] {
  const args = [...command, CHART_DIR, '--namespace', NAMESPACE]
  if (options.valuesFile !== undefined) args.push('-f', `${CI_DIR}${options.valuesFile}`)
  for (const s of options.set ?? []) args.push('--set', s)
  for (const s of options.setJson ?? []) args.push('--set-json', s)
  for (const v of options.apiVersions ?? []) args.push('--api-versions', v)
  return args
}

/** Renders the chart; throws with helm's message when it fails. Every document must parse cleanly (no duplicate keys). */
export async function render (options: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await helm(renderArgs(['template', RELEASE], options))
  if (result.code !== 0) throw new Error(`helm template failed (${result.code}): ${result.stderr}`)
  const objects: K8sObject[] = []
  for (const doc of parseAllDocuments(result.stdout, { uniqueKeys: true })) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value = doc.toJS() as K8sObject | null
    if (value !== null) objects.push(value)
  }
  return objects
}

/** Renders expecting a failure; resolves to helm's error output. */
export async function renderError (options: RenderOptions): Promise<string> {
  const result = await helm(renderArgs(['template', RELEASE], options))
  if (result.code === 0) throw new Error('helm template succeeded, a failure was expected')
  return result.stderr
}

/** NOTES.txt as `helm install --dry-run=client` prints it (no cluster needed). */
export async function renderNotes (options: RenderOptions = {}): Promise<string> {
  const result = await helm(renderArgs(['install', RELEASE, '--dry-run=client'], options))
  if (result.code !== 0) throw new Error(`helm install --dry-run failed: ${result.stderr}`)
  const at = result.stdout.indexOf('NOTES:')
  if (at < 0) throw new Error('no NOTES in helm install --dry-run output')
  return result.stdout.slice(at)
}

export function objectsOf (objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind)
}

export function theObject (objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind}${name !== undefined ? ` ${name}` : ''}, found ${found.length}`)
  return found[0] as K8sObject
}
