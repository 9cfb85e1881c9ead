import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveAdminTokens } from '../../src/api/bearer.js'
import { configFields } from '../../src/config/fields.js'
import { loadConfig } from '../../src/config/load.js'
import type { StarlingConfig } from '../../src/config/schema.js'
import { objectsOf, theObject } from './chart.js'
import type { K8sObject } from './k8s-validate.js'

/**
 * What every rendering of the chart must satisfy, whatever the values: the pods' environment
 * and config file form a valid Starling configuration, ports, probes, drain time, selectors and
 * secrets line up. Returns the pieces the per-value-set tests look at.
 */

type Any = any

export const POD_NAME = 'rel-starling-7d9f-abcde'
export const POD_IP = '10.1.2.3'
/** Stand-in for a value that lives in a Secret the chart does not create (existingSecret). */
export const EXTERNAL_SECRET_VALUE = 'from-existing-secret-0123456789abcdef'

export interface Release {
  readonly deployment: Any
  readonly container: Any
  readonly config: StarlingConfig
  readonly env: Record<string, string>
  readonly configMap: Any
  readonly secret: Any | undefined
}

/** Secrets Starling reads from the environment under names of their own, besides the config options'. */
const SECRET_ENV = ['STARLING_ADMIN_TOKEN', 'STARLING_SECRET_KEY']
const ENV_NAMES = new Set([...configFields().map((f) => f.env), ...SECRET_ENV])

function decodedSecrets (objects: readonly K8sObject[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>()
  for (const s of objectsOf(objects, 'Secret') as Any[]) {
    out.set(s.metadata.name, Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')])))
  }
  return out
}

/** The container's environment as the kubelet would build it. */
function resolveEnv (container: Any, secrets: Map<string, Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of container.env ?? []) {
    if (e.value !== undefined) { env[e.name] = String(e.value); continue }
    const field = e.valueFrom?.fieldRef?.fieldPath
    if (field === 'metadata.name') { env[e.name] = POD_NAME; continue }
    if (field === 'status.podIP') { env[e.name] = POD_IP; continue }
    const ref = e.valueFrom?.secretKeyRef
    assert.ok(ref !== undefined, `env ${e.name}: value, fieldRef or secretKeyRef`)
    const rendered = secrets.get(ref.name)
    if (rendered !== undefined) {
      assert.ok(ref.key in rendered, `env ${e.name}: the chart's Secret ${ref.name} has no key ${ref.key}`)
      env[e.name] = rendered[ref.key] as string
    } else {
      env[e.name] = EXTERNAL_SECRET_VALUE
    }
  }
  return env
}

function loadRenderedConfig (configYaml: string, env: Record<string, string>): StarlingConfig {
  const dir = mkdtempSync(join(tmpdir(), 'starling-chart-config-'))
  try {
    const file = join(dir, 'config.yaml')
    writeFileSync(file, configYaml)
    return loadConfig({ file, env })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function matches (selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v)
}

const LABEL_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/
const LABEL_VALUE = /^$|^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/

/** Every `labels` / `matchLabels` map anywhere in the object has valid keys and values (the API server checks them; the models do not). */
function labelProblems (value: unknown, path: string, out: string[]): void {
  if (Array.isArray(value)) { value.forEach((v, i) => labelProblems(v, `${path}[${i}]`, out)); return }
  if (value === null || typeof value !== 'object') return
  for (const [key, child] of Object.entries(value)) {
    if ((key === 'labels' || key === 'matchLabels') && child !== null && typeof child === 'object' && !Array.isArray(child)) {
      for (const [k, v] of Object.entries(child)) {
        if (!LABEL_NAME.test(k) || (k.split('/').at(-1) ?? '').length > 63) out.push(`${path}.${key}: bad label key ${k}`)
        if (typeof v !== 'string' || !LABEL_VALUE.test(v)) out.push(`${path}.${key}: bad value for ${k}`)
      }
    } else {
      labelProblems(child, `${path}.${key}`, out)
    }
  }
}

export function checkRelease (objects: readonly K8sObject[]): Release {
  const labelErrors: string[] = []
  for (const o of objects) labelProblems(o, `${o.kind}/${o.metadata.name}`, labelErrors)
  assert.deepEqual(labelErrors, [], 'labels are valid')
  for (const o of objects) {
    assert.ok(o.metadata.name.length <= 63, `${o.kind} ${o.metadata.name}: name longer than 63`)
    assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'rel', `${o.kind} ${o.metadata.name}: instance label`)
    assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${o.kind} ${o.metadata.name}: managed-by label`)
  }
  const deployment = theObject(objects, 'Deployment') as Any
  const pod = deployment.spec.template
  const container = pod.spec.containers.find((c: Any) => c.name === 'starling')
  assert.ok(container !== undefined, 'a starling container')
  assert.deepEqual(container.args, ['serve', '--config', '/etc/starling/config.yaml'])
  assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels), 'the Deployment selects its pods')
  assert.match(pod.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/)

  // Starling's configuration: the ConfigMap's file plus the environment, through Starling's own loader.
  const secrets = decodedSecrets(objects)
  const env = resolveEnv(container, secrets)
  for (const name of Object.keys(env).filter((n) => n.startsWith('STARLING_'))) {
    assert.ok(ENV_NAMES.has(name), `env ${name} is not a Starling option (src/config/schema.ts)`)
  }
  // Auth is always on: an admin token and the signing keys' secret key, both from Secrets.
  for (const name of SECRET_ENV) {
    assert.ok(container.env.find((e: Any) => e.name === name)?.valueFrom?.secretKeyRef !== undefined, `env ${name} comes from a Secret`)
  }
  assert.ok((env.STARLING_SECRET_KEY ?? '').length >= 32, 'STARLING_SECRET_KEY has at least 32 characters')

  const configMap = theObject(objects, 'ConfigMap') as Any
  assert.deepEqual(Object.keys(configMap.data), ['config.yaml'])
  const mount = container.volumeMounts.find((m: Any) => m.mountPath === '/etc/starling/config.yaml')
  assert.equal(pod.spec.volumes.find((v: Any) => v.name === mount?.name)?.configMap?.name, configMap.metadata.name, 'the config file is the ConfigMap')
  const config = loadRenderedConfig(configMap.data['config.yaml'], env)
  assert.equal(config.nodeId, POD_NAME)
  assert.equal(config.cluster.advertiseHost, POD_IP)
  assert.equal(resolveAdminTokens(config.api, env).length, 1, 'one admin token (at least 16 characters)')
  assert.ok(container.volumeMounts.some((m: Any) => m.mountPath === config.dataDir), `dataDir ${config.dataDir} is a mounted volume (the root filesystem is read-only)`)

  // Ports: the container's named ports are the ones Starling listens on.
  const ports = new Map<string, number>(container.ports.map((p: Any) => [p.name, p.containerPort]))
  assert.equal(ports.get('mqtt'), config.mqtt.port)
  assert.equal(ports.get('http'), config.http.port)
  assert.equal(ports.get('ws'), config.ws.enabled ? config.ws.port : undefined)
  const tls = config.tls.certFile !== ''
  assert.equal(ports.get('mqtts'), tls ? config.tls.port : undefined)
  assert.equal(ports.get('wss'), tls && config.ws.enabled ? config.wss.port : undefined)

  // Probes on the HTTP port; the startup budget covers the wait for Redis.
  assert.deepEqual([container.readinessProbe.httpGet.path, container.readinessProbe.httpGet.port], ['/readyz', 'http'])
  assert.deepEqual([container.livenessProbe.httpGet.path, container.livenessProbe.httpGet.port], ['/healthz', 'http'])
  assert.deepEqual([container.startupProbe.httpGet.path, container.startupProbe.httpGet.port], ['/healthz', 'http'])
  const startupBudgetMs = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold * 1000
  assert.ok(startupBudgetMs > config.redis.startTimeoutMs, `startup probe budget ${startupBudgetMs} ms must exceed redis.startTimeoutMs ${config.redis.startTimeoutMs}`)

  // Drain: preStop sleep, then drainSeconds, all inside the grace period.
  const preStop = container.lifecycle.preStop.exec.command
  assert.equal(preStop[0], 'sleep')
  const preStopSeconds = Number(preStop[1])
  assert.ok(pod.spec.terminationGracePeriodSeconds > preStopSeconds + config.drainSeconds,
    `terminationGracePeriodSeconds ${pod.spec.terminationGracePeriodSeconds} must exceed preStop ${preStopSeconds} + drainSeconds ${config.drainSeconds}`)

  // TLS files come from a mounted Secret, at the paths in the config.
  if (tls) {
    const tlsMount = container.volumeMounts.find((m: Any) => config.tls.certFile.startsWith(m.mountPath + '/'))
    const volume = pod.spec.volumes.find((v: Any) => v.name === tlsMount?.name)
    assert.ok(volume?.secret !== undefined, 'TLS files come from a Secret volume')
    const files = volume.secret.items.map((i: Any) => `${tlsMount.mountPath}/${i.path}`)
    for (const file of [config.tls.certFile, config.tls.keyFile, config.tls.caFile].filter((f) => f !== '')) assert.ok(files.includes(file), `${file} is mounted`)
  }

  // Services select the pods and target named container ports; the public one carries no HTTP.
  for (const svc of objectsOf(objects, 'Service') as Any[]) {
    if (svc.metadata.labels['app.kubernetes.io/component'] === 'redis') continue
    assert.ok(matches(svc.spec.selector, pod.metadata.labels), `Service ${svc.metadata.name} selects the broker pods`)
    for (const p of svc.spec.ports) assert.ok(ports.has(p.targetPort), `Service ${svc.metadata.name} port ${p.name} targets a container port`)
  }
  const headless = (objectsOf(objects, 'Service') as Any[]).find((s) => s.metadata.labels['app.kubernetes.io/component'] === 'headless')
  assert.equal(headless?.spec.clusterIP, 'None')
  assert.ok(headless.spec.ports.some((p: Any) => p.name === 'http'), 'the headless Service carries the HTTP port')
  const main = theObject(objects, 'Service', deployment.metadata.name) as Any
  assert.ok(!main.spec.ports.some((p: Any) => p.targetPort === 'http'), 'metrics, /cluster and the management API stay off the public Service')

  for (const pdb of objectsOf(objects, 'PodDisruptionBudget') as Any[]) assert.ok(matches(pdb.spec.selector.matchLabels, pod.metadata.labels))
  for (const hpa of objectsOf(objects, 'HorizontalPodAutoscaler') as Any[]) {
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name })
    assert.equal(deployment.spec.replicas, undefined, 'with an HPA the Deployment leaves replicas to it')
  }

  // Secrets: no secret value appears in any other object (ConfigMaps above all).
  const secretValues = [...secrets.values()].flatMap((data) => Object.values(data)).filter((v) => v.length >= 8)
  for (const o of objects.filter((x) => x.kind !== 'Secret')) {
    const text = JSON.stringify(o)
    for (const value of secretValues) {
      assert.ok(!text.includes(value) && !text.includes(JSON.stringify(value).slice(1, -1)), `${o.kind} ${o.metadata.name} contains a secret value`)
    }
  }
  assert.doesNotMatch(configMap.data['config.yaml'], /password|BEGIN .*PRIVATE KEY/i)

  const secret = objectsOf(objects, 'Secret').find((s) => s.metadata.name === deployment.metadata.name) as Any
  return { deployment, container, config, env, configMap, secret }
}
