import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { after, test } from 'node:test'
import { parse } from 'yaml'
import { redisSettings } from '../../src/cluster/redis.js'
import { createMetrics } from '../../src/metrics/registry.js'
import { CHART_DIR, ciValueFiles, objectsOf, render, renderError, renderNotes, theObject } from './chart.js'
import { cleanupHelmHome, helm } from './helm-bin.js'
import { validateObject, type K8sObject } from './k8s-validate.js'
import { EXTERNAL_SECRET_VALUE, checkRelease, type Release } from './release-checks.js'
import { strayParams, undocumentedValues, valuesTable, valuesTree } from './values-docs.js'
import { starlingConfigJsonSchema, valuesSchema } from './values-schema.js'

/** helm/starling: lint, render with the default values and every ci/ value set, validate, and check what matters. */

type Any = any

after(cleanupHelmHome)

const MONITORING_API = 'monitoring.coreos.com/v1'

async function renderValid (options: Parameters<typeof render>[0] = {}): Promise<{ objects: K8sObject[], release: Release }> {
  const objects = await render(options)
  const problems: string[] = []
  for (const o of objects) for (const p of await validateObject(o)) problems.push(`${o.kind} ${o.metadata.name}: ${p}`)
  assert.deepEqual(problems, [], 'every rendered object validates')
  return { objects, release: checkRelease(objects) }
}

const kinds = (objects: readonly K8sObject[]): string[] => [...new Set(objects.map((o) => o.kind))].sort()

test('helm lint passes with the default values and with every value set in ci/', async () => {
  const runs = [[], ...ciValueFiles().map((f) => ['-f', `${CHART_DIR}ci/${f}`])]
  const results = await Promise.all(runs.map((extra) => helm(['lint', '--strict', CHART_DIR, ...extra])))
  results.forEach((r, i) => assert.equal(r.code, 0, `helm lint ${runs[i]?.join(' ') ?? ''}: ${r.stdout}${r.stderr}`))
})

test('default values: bundled Redis with a volume, LoadBalancer for MQTT and WS, HPA on CPU, PDB, no monitoring objects', async () => {
  const { objects, release } = await renderValid()
  assert.deepEqual(kinds(objects), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount', 'StatefulSet'])
  const svc = theObject(objects, 'Service', 'rel-starling') as Any
  assert.equal(svc.spec.type, 'LoadBalancer')
  assert.deepEqual(svc.spec.ports.map((p: Any) => [p.name, p.port]), [['mqtt', 1883], ['ws', 8080]])
  const redis = theObject(objects, 'StatefulSet') as Any
  assert.equal(redis.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '8Gi')
  const redisSvc = theObject(objects, 'Service', 'rel-starling-redis') as Any
  assert.equal(release.config.redis.url, `redis://rel-starling-redis.mqtt.svc:${redisSvc.spec.ports[0].port}/0`)
  assert.equal(redisSettings(release.config.redis)?.mode, 'standalone')
  // The bundled Redis and the brokers share one generated password from the chart's Secret.
  const password = release.env.STARLING_REDIS_PASSWORD
  assert.match(password ?? '', /^[A-Za-z0-9]{32}$/)
  assert.equal(redisSettings(release.config.redis)?.password, password)
  const redisEnv = redis.spec.template.spec.containers[0].env.find((e: Any) => e.name === 'REDIS_PASSWORD')
  assert.deepEqual(redisEnv.valueFrom.secretKeyRef, { name: 'rel-starling', key: 'redis-password' })
  // Valkey (BSD-3-Clause) by default, pinned; its own binaries, and its CLI gets the password for the probe.
  const redisContainer = redis.spec.template.spec.containers[0]
  assert.equal(redisContainer.image, 'docker.io/valkey/valkey:8.1.11-alpine')
  assert.equal(redisContainer.args[0], 'valkey-server')
  assert.match(redisContainer.readinessProbe.exec.command.join(' '), /valkey-cli -p 6379 ping/)
  assert.ok(redisContainer.env.some((e: Any) => e.name === 'VALKEYCLI_AUTH' && e.valueFrom.secretKeyRef.key === 'redis-password'))
  const hpa = theObject(objects, 'HorizontalPodAutoscaler') as Any
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [2, 10])
  assert.deepEqual(hpa.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }])
  assert.equal(release.deployment.spec.template.spec.terminationGracePeriodSeconds, 45)
  assert.equal(release.config.drainSeconds, 30)
  assert.equal(release.deployment.spec.template.spec.topologySpreadConstraints.length, 2)
})

test('default values: auth on (TOKEN default broker), admin token and secret key generated into the Secret, API on its own ClusterIP Service, NetworkPolicy on the HTTP port', async () => {
  const { objects, release } = await renderValid()
  assert.equal(release.config.auth.defaultBrokerAuthType, 'TOKEN')
  assert.match(release.env.STARLING_ADMIN_TOKEN ?? '', /^[A-Za-z0-9]{40}$/)
  assert.match(release.env.STARLING_SECRET_KEY ?? '', /^[A-Za-z0-9]{48}$/)
  assert.deepEqual(release.container.env.find((e: Any) => e.name === 'STARLING_ADMIN_TOKEN').valueFrom.secretKeyRef, { name: 'rel-starling', key: 'admin-token' })
  assert.deepEqual(release.container.env.find((e: Any) => e.name === 'STARLING_SECRET_KEY').valueFrom.secretKeyRef, { name: 'rel-starling', key: 'secret-key' })
  assert.doesNotMatch(release.configMap.data['config.yaml'], /secretKey|adminToken|bearerToken/)
  const api = theObject(objects, 'Service', 'rel-starling-api') as Any
  assert.deepEqual([api.spec.type, api.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort])], ['ClusterIP', [['http', 9090, 'http']]])
  assert.equal(api.metadata.labels['app.kubernetes.io/component'], 'api')
  const policy = theObject(objects, 'NetworkPolicy', 'rel-starling') as Any
  const httpRule = policy.spec.ingress.find((rule: Any) => rule.ports.some((p: Any) => p.port === release.config.http.port))
  assert.deepEqual(httpRule.from, [{ podSelector: {} }], 'the HTTP port (management API) only from the release\'s namespace')
  const mqttRule = policy.spec.ingress.find((rule: Any) => rule.ports.some((p: Any) => p.port === release.config.mqtt.port))
  assert.equal(mqttRule.from, undefined, 'MQTT stays reachable from anywhere (allowExternal)')
})

test('an anonymous default broker renders only with auth.allowAnonymous; short inline secrets and secrets in config are refused', async () => {
  const stderr = await renderError({ set: ['auth.defaultBrokerAuthType=NONE', 'auth.adminToken.value=short', 'auth.secretKey.value=also-short'], setJson: ['config={"auth":{"secretKey":"a-secret-key-of-at-least-32-characters"},"api":{"adminTokens":["an-admin-token-of-16+"]}}'] })
  for (const expected of ['auth.defaultBrokerAuthType: NONE lets anyone', 'set auth.allowAnonymous=true', 'auth.adminToken.value: at least 16', 'auth.secretKey.value: at least 32', 'config.auth.secretKey: set by the chart', 'config.api.adminTokens: set by the chart']) {
    assert.ok(stderr.includes(expected), `${expected} in: ${stderr}`)
  }
  assert.match(await renderError({ set: ['auth.defaultBrokerAuthType=JWKS'] }), /auth\/defaultBrokerAuthType/)
  assert.match(await renderError({ set: ['api.service.colour=red'] }), /additional propert/i)
})

test('NOTES.txt says how to get the admin token and issue a device token', async () => {
  const notes = await renderNotes()
  assert.match(notes, /export STARLING_ADMIN_TOKEN=\$\(kubectl -n mqtt get secret rel-starling -o jsonpath='\{\.data\.admin-token\}' \| base64 -d\)/)
  assert.match(notes, /kubectl -n mqtt port-forward service\/rel-starling-api 9090:9090/)
  assert.match(notes, /npx starling pubsub broker issue default --namespace default/)
})

/** What each value set in ci/ must produce, beyond the checks every rendering passes. */
const VALUE_SETS: Record<string, (objects: K8sObject[], r: Release) => void> = {
  'bundled-redis-values.yaml': (objects, r) => {
    assert.equal(r.env.STARLING_REDIS_PASSWORD, 'bundled-Pw-1234')
    const redis = theObject(objects, 'StatefulSet') as Any
    assert.equal(redis.spec.volumeClaimTemplates[0].spec.storageClassName, 'standard')
    // redis.bundled.flavor=redis: Redis' image and binaries instead of Valkey's.
    const container = redis.spec.template.spec.containers[0]
    assert.equal(container.image, 'docker.io/library/redis:7.4.2-alpine')
    assert.equal(container.args[0], 'redis-server')
    assert.match(container.readinessProbe.exec.command.join(' '), /redis-cli -p 6379 ping/)
    assert.deepEqual(container.env.map((e: Any) => e.name).filter((n: string) => /CLI_AUTH$/.test(n)), ['REDISCLI_AUTH'])
    const policies = objectsOf(objects, 'NetworkPolicy') as Any[]
    assert.equal(policies.length, 2)
    const redisPolicy = policies.find((p) => p.metadata.name === 'rel-starling-redis')
    assert.deepEqual(redisPolicy.spec.ingress[0].from[0].podSelector.matchLabels, r.deployment.spec.selector.matchLabels, 'only brokers reach Redis')
  },
  'anonymous-values.yaml': (objects, r) => {
    assert.equal(r.config.auth.defaultBrokerAuthType, 'NONE')
    assert.equal(r.env.STARLING_ADMIN_TOKEN, 'dev-admin-token-0123456789')
    assert.equal(objectsOf(objects, 'NetworkPolicy').length, 0)
    assert.deepEqual((objectsOf(objects, 'Service') as Any[]).map((s) => s.metadata.name).sort(), ['rel-starling', 'rel-starling-headless', 'rel-starling-redis'], 'no API Service')
  },
  'embedded-values.yaml': (objects, r) => {
    assert.equal(redisSettings(r.config.redis), undefined, 'in-memory mode')
    assert.deepEqual(kinds(objects), ['ConfigMap', 'Deployment', 'NetworkPolicy', 'Secret', 'Service', 'ServiceAccount'])
    assert.deepEqual(Object.keys(r.secret.data).sort(), ['admin-token', 'secret-key'])
    assert.equal(r.deployment.spec.replicas, 1)
  },
  'existing-secret-values.yaml': (objects, r) => {
    assert.equal(objectsOf(objects, 'Secret').length, 0, 'no chart Secret when every secret exists already')
    const ref = r.container.env.find((e: Any) => e.name === 'STARLING_REDIS_PASSWORD').valueFrom.secretKeyRef
    assert.deepEqual(ref, { name: 'starling-redis', key: 'password' })
    assert.equal(redisSettings(r.config.redis)?.password, EXTERNAL_SECRET_VALUE)
    const tls = r.deployment.spec.template.spec.volumes.find((v: Any) => v.name === 'tls')
    assert.equal(tls.secret.secretName, 'starling-tls')
    assert.equal(r.config.tls.caFile, '/etc/starling/tls/ca.crt', 'client certificates verified')
    assert.deepEqual(r.container.env.find((e: Any) => e.name === 'STARLING_ADMIN_TOKEN').valueFrom.secretKeyRef, { name: 'starling-admin', key: 'token' })
    assert.deepEqual(r.container.env.find((e: Any) => e.name === 'STARLING_SECRET_KEY').valueFrom.secretKeyRef, { name: 'starling-keys', key: 'secret-key' })
  },
  'external-redis-values.yaml': (_objects, r) => {
    const settings = redisSettings(r.config.redis)
    assert.deepEqual([settings?.mode, settings?.tls, settings?.username, settings?.password, settings?.db], ['standalone', true, 'starling', 'ext-Redis-Pw-4711', 2])
    assert.equal(r.secret.data['redis-password'], Buffer.from('ext-Redis-Pw-4711').toString('base64'))
    assert.deepEqual([r.config.limits.maxConnections, r.config.clientIdConflict, r.config.redis.startTimeoutMs], [50000, 'reject', 45000])
    assert.equal(r.env.STARLING_LOG_LEVEL, 'debug')
  },
  'monitoring-values.yaml': (objects, r) => {
    const sm = theObject(objects, 'ServiceMonitor') as Any
    assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack')
    const target = (objectsOf(objects, 'Service') as Any[]).filter((s) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels[k] === v))
    assert.equal(target.length, 1, 'the ServiceMonitor selects exactly one Service')
    assert.ok(target[0].spec.ports.some((p: Any) => p.name === sm.spec.endpoints[0].port), 'its port exists on that Service')
    assert.equal(sm.spec.endpoints[0].path, '/metrics')
    // /metrics behind a bearer token: the pods require the one the ServiceMonitor sends.
    assert.deepEqual(sm.spec.endpoints[0].authorization, { type: 'Bearer', credentials: { name: 'rel-starling', key: 'metrics-token' } })
    assert.match(r.config.metrics.bearerToken, /^[A-Za-z0-9]{40}$/, 'generated')
    assert.deepEqual(r.container.env.find((e: Any) => e.name === 'STARLING_METRICS_BEARER_TOKEN').valueFrom.secretKeyRef, sm.spec.endpoints[0].authorization.credentials, 'the pods read the token the ServiceMonitor sends')
    // The alerts select the job the ServiceMonitor names (its jobLabel, read off the Service).
    const job = target[0].metadata.labels[sm.spec.jobLabel]
    const alertJobs = new Set([...readFileSync(`${CHART_DIR}files/alerts.yaml`, 'utf8').matchAll(/job="([^"]+)"/g)].map((m) => m[1]))
    assert.deepEqual([...alertJobs], alertJobs.size === 0 ? [] : [job], `alerts use job="${String(job)}"`)
    assert.equal(r.config.http.port, target[0].spec.ports.find((p: Any) => p.name === 'http').port)
    const rule = theObject(objects, 'PrometheusRule') as Any
    assert.deepEqual(rule.spec.groups, (parse(readFileSync(`${CHART_DIR}files/alerts.yaml`, 'utf8')) as Any).groups)
    const hpa = theObject(objects, 'HorizontalPodAutoscaler') as Any
    assert.deepEqual(hpa.spec.metrics.map((m: Any) => m.type), ['Resource', 'Pods'])
    assert.deepEqual(hpa.spec.metrics[1].pods, { metric: { name: 'starling_connections' }, target: { type: 'AverageValue', averageValue: '20000' } })
  },
  'no-autoscaling-values.yaml': (objects, r) => {
    assert.equal(objectsOf(objects, 'HorizontalPodAutoscaler').length, 0)
    assert.equal(r.deployment.spec.replicas, 3)
    assert.equal((theObject(objects, 'PodDisruptionBudget') as Any).spec.minAvailable, 2)
    assert.equal(r.deployment.spec.template.spec.terminationGracePeriodSeconds, 80)
    assert.deepEqual(r.container.lifecycle.preStop.exec.command, ['sleep', '10'])
    const svc = theObject(objects, 'Service', 'rel-starling') as Any
    assert.deepEqual([svc.spec.type, svc.spec.externalTrafficPolicy], ['ClusterIP', undefined])
  },
  'proxy-protocol-values.yaml': (objects, r) => {
    assert.equal(r.config.mqtt.proxyProtocol, true, 'the pods expect the PROXY header')
    const svc = theObject(objects, 'Service', 'rel-starling') as Any
    assert.equal(svc.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-proxy-protocol'], '*')
    assert.equal(svc.spec.externalTrafficPolicy, 'Local')
    assert.deepEqual(svc.spec.ports.map((p: Any) => p.name), ['mqtt'])
  },
  'redis-cluster-values.yaml': (_objects, r) => {
    const settings = redisSettings(r.config.redis)
    assert.equal(settings?.mode, 'cluster')
    assert.equal(settings?.clusterNodes.length, 2)
    assert.equal(settings?.password, 'cluster-Pw-0815')
  },
  'sentinel-values.yaml': (objects, r) => {
    const settings = redisSettings(r.config.redis)
    assert.deepEqual([settings?.mode, settings?.sentinelName, settings?.sentinels.length], ['sentinel', 'mymaster', 3])
    assert.equal(objectsOf(objects, 'StatefulSet').length, 0)
    assert.deepEqual(Object.keys(r.secret.data).sort(), ['admin-token', 'secret-key'], 'the chart\'s Secret holds only the generated auth secrets')
    assert.deepEqual(r.container.env.find((e: Any) => e.name === 'STARLING_REDIS_PASSWORD').valueFrom.secretKeyRef, { name: 'redis', key: 'redis-password' })
  },
  'tls-inline-values.yaml': (objects, r) => {
    assert.deepEqual(Object.keys(r.secret.data).sort(), ['admin-token', 'redis-password', 'secret-key', 'tls.crt', 'tls.key'])
    assert.equal(r.config.tls.caFile, '', 'no client certificates unless tls.verifyClients')
    const svc = theObject(objects, 'Service', 'rel-starling') as Any
    assert.deepEqual(svc.spec.ports.map((p: Any) => p.name), ['mqtt', 'mqtts', 'ws', 'wss'])
    assert.equal(svc.spec.ports[1].nodePort, 30883)
  }
}

test('every value set in ci/ renders valid objects that fit together', async (t) => {
  assert.deepEqual(ciValueFiles(), Object.keys(VALUE_SETS).sort(), 'each ci/ value set has its expectations here')
  const rendered = await Promise.all(ciValueFiles().map(async (file) => ({ file, ...await renderValid({ valuesFile: file }) })))
  for (const { file, objects, release } of rendered) {
    await t.test(file, () => { (VALUE_SETS[file] as (o: K8sObject[], r: Release) => void)(objects, release) })
  }
})

test('ServiceMonitor and PrometheusRule: automatic when the cluster has the CRDs, forced on, or off', async () => {
  const count = (objects: K8sObject[]): number[] => [objectsOf(objects, 'ServiceMonitor').length, objectsOf(objects, 'PrometheusRule').length]
  const [none, auto, off, forced] = await Promise.all([
    render(),
    render({ apiVersions: [MONITORING_API] }),
    render({ apiVersions: [MONITORING_API], set: ['metrics.serviceMonitor.enabled=false', 'metrics.prometheusRule.enabled=false'] }),
    render({ set: ['metrics.serviceMonitor.enabled=true'] })
  ])
  assert.deepEqual([count(none), count(auto), count(off), count(forced)], [[0, 0], [1, 1], [0, 0], [1, 0]])
})

test('a config change rolls the pods (checksum/config)', async () => {
  const [a, b] = await Promise.all([render(), render({ set: ['config.limits.maxConnections=5'] })])
  const checksum = (objects: K8sObject[]): string => (theObject(objects, 'Deployment') as Any).spec.template.metadata.annotations['checksum/config']
  assert.notEqual(checksum(a), checksum(b))
})

test('inconsistent values fail with every problem listed at once; values.schema.json rejects bad types and unknown keys', async () => {
  const stderr = await renderError({
    set: ['redis.mode=external', 'redis.url=redis://:pw@h:6379', 'service.proxyProtocol.enabled=true', 'drain.terminationGracePeriodSeconds=20'],
    setJson: ['config={"mqtt":{"port":1},"redis":{"password":"x"}}']
  })
  for (const expected of ['redis.url: must not carry a password', 'service.proxyProtocol.enabled', 'drain.terminationGracePeriodSeconds', 'config.mqtt: set by the chart', 'config.redis.password']) {
    assert.ok(stderr.includes(expected), `${expected} in: ${stderr}`)
  }
  assert.match(await renderError({ set: ['redis.mode=none'] }), /redis.mode=none keeps all state in one pod/)
  assert.match(await renderError({ set: ['tls.enabled=true'] }), /tls: enabled needs tls.existingSecret/)
  assert.match(await renderError({ set: ['redis.mode=sentinel'] }), /redis.sentinel.nodes/)
  assert.match(await renderError({ set: ['replicas=3'] }), /additional propert/i)
  assert.match(await renderError({ set: ['listeners.mqtt.port=notaport'] }), /listeners\/mqtt\/port/)
})

test('NOTES.txt says how to connect', async () => {
  const [plain, tls] = await Promise.all([renderNotes(), renderNotes({ valuesFile: 'tls-inline-values.yaml' })])
  assert.match(plain, /kubectl -n mqtt get service rel-starling -o jsonpath/)
  assert.match(plain, /mosquitto_pub -h "\$STARLING_HOST" -p 1883/)
  assert.match(plain, /ws:\/\/\$STARLING_HOST:8080\/mqtt/)
  assert.match(tls, /MQTTS: mosquitto_pub -h "\$STARLING_HOST" -p 8883/)
  assert.match(tls, /wss:\/\/\$STARLING_HOST:8081\/mqtt/)
})

test('every value is documented in values.yaml and in the chart README table (node --import tsx test/deploy/values-docs.ts)', () => {
  assert.deepEqual(undocumentedValues(), [], 'values without a ## @param line')
  assert.deepEqual(strayParams(), [], '## @param lines naming no value')
  const readme = readFileSync(`${CHART_DIR}README.md`, 'utf8')
  assert.ok(readme.includes(valuesTable()), 'helm/starling/README.md values table is stale')
})

test('the chart\'s appVersion is Starling\'s version', () => {
  const chart = parse(readFileSync(`${CHART_DIR}Chart.yaml`, 'utf8')) as { appVersion: string, apiVersion: string }
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  assert.deepEqual([chart.apiVersion, chart.appVersion], ['v2', pkg.version])
})

test('the PrometheusRule loads the project\'s alert rules (files/alerts.yaml equals deploy/prometheus/alerts.yaml)', () => {
  const chartCopy = parse(readFileSync(`${CHART_DIR}files/alerts.yaml`, 'utf8')) as Any
  assert.ok(Array.isArray(chartCopy?.groups) && chartCopy.groups.length > 0, 'files/alerts.yaml has rule groups')
  for (const group of chartCopy.groups) {
    assert.ok(typeof group.name === 'string' && Array.isArray(group.rules) && group.rules.length > 0, `group ${String(group.name)}`)
    for (const rule of group.rules) assert.ok(typeof rule.expr === 'string' && (typeof rule.alert === 'string' || typeof rule.record === 'string'), JSON.stringify(rule))
  }
  const source = new URL('../../deploy/prometheus/alerts.yaml', import.meta.url)
  if (existsSync(source)) {
    assert.deepEqual(chartCopy, parse(readFileSync(source, 'utf8')), 'copy deploy/prometheus/alerts.yaml to helm/starling/files/alerts.yaml')
  }
})

test('the connections metric the HPA can scale on is one Starling exports', () => {
  const name = (valuesTree() as Any).autoscaling.connections.metricName as string
  assert.ok(createMetrics('chart-test', false).registry.getSingleMetric(name) !== undefined, `${name} is not in Starling's registry`)
})

test('names stay within 63 characters and distinct with the longest fullnameOverride', async () => {
  const long = 'a'.repeat(63)
  const { objects } = await renderValid({ set: [`fullnameOverride=${long}`, 'networkPolicy.enabled=true', 'networkPolicy.allowExternal=false'] })
  const names = objects.map((o) => `${o.kind}/${o.metadata.name}`)
  assert.equal(new Set(names).size, names.length, `distinct: ${names.join(', ')}`)
  assert.ok(objects.every((o) => o.metadata.name.length <= 63))
})

test('values.schema.json checks `config` against Starling\'s own schema, so helm refuses a misspelt option', async () => {
  assert.deepEqual(valuesSchema().properties.config, starlingConfigJsonSchema(), 'stale: node --import tsx test/deploy/values-schema.ts --write')
  assert.match(await renderError({ set: ['config.limits.maxConnection=5'] }), /\/config\/limits.*maxConnection/)
  assert.match(await renderError({ set: ['config.clientIdConflict=sometimes'] }), /\/config\/clientIdConflict/)
  const { release } = await renderValid({ set: ['config.limits.maxConnections=5'], setJson: ['config.acl=[{"action":"publish","topic":"a/#","allow":false}]'] })
  assert.deepEqual([release.config.limits.maxConnections, release.config.acl.length], [5, 1])
})
