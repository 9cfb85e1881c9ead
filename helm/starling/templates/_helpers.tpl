{{/*
Names and labels. Every name is capped at 63 characters (DNS label), with room for its suffix.
*/}}
{{- define "starling.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "starling.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "starling.headlessName" -}}
{{- printf "%s-headless" (include "starling.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{- define "starling.redis.fullname" -}}
{{- printf "%s-redis" (include "starling.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}

{{- define "starling.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "starling.labels" -}}
helm.sh/chart: {{ include "starling.chart" . }}
app.kubernetes.io/name: {{ include "starling.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: starling
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector of the broker pods (immutable in a Deployment: never add to it). */}}
{{- define "starling.selectorLabels" -}}
app.kubernetes.io/name: {{ include "starling.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: broker
{{- end -}}

{{- define "starling.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "starling.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "starling.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "starling.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag@digest; the tag defaults to the chart's appVersion. */}}
{{- define "starling.imageRef" -}}
{{- $image := .image -}}
{{- $ref := $image.repository -}}
{{- if $image.registry }}{{ $ref = printf "%s/%s" $image.registry $image.repository }}{{ end -}}
{{- $ref = printf "%s:%s" $ref (default .default $image.tag | toString) -}}
{{- if $image.digest }}{{ $ref = printf "%s@%s" $ref $image.digest }}{{ end -}}
{{- $ref -}}
{{- end -}}

{{- define "starling.image" -}}
{{- include "starling.imageRef" (dict "image" .Values.image "default" .Chart.AppVersion) -}}
{{- end -}}

{{- define "starling.redis.image" -}}
{{- include "starling.imageRef" (dict "image" .Values.redis.bundled.image "default" "latest") -}}
{{- end -}}

{{/* Where the TLS files are mounted in the broker pods. */}}
{{- define "starling.tlsDir" -}}/etc/starling/tls{{- end -}}

{{/* The Secret holding the TLS files: the user's, or the chart's own. */}}
{{- define "starling.tls.secretName" -}}
{{- default (include "starling.fullname" .) .Values.tls.existingSecret -}}
{{- end -}}

{{/* "true" when the broker pods need a Redis password from a Secret. */}}
{{- define "starling.redis.hasPassword" -}}
{{- $r := .Values.redis -}}
{{- if and (ne $r.mode "none") (or (eq $r.mode "bundled") $r.auth.password $r.auth.existingSecret) -}}true{{- end -}}
{{- end -}}

{{- define "starling.redis.passwordSecret" -}}
{{- default (include "starling.fullname" .) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "starling.redis.passwordKey" -}}
{{- if .Values.redis.auth.existingSecret -}}{{ .Values.redis.auth.existingSecretPasswordKey }}{{- else -}}redis-password{{- end -}}
{{- end -}}

{{/*
The bundled Redis password: the given one, else the one already in the release's Secret
(so upgrades keep it), else a new random one.
*/}}
{{- define "starling.redis.password" -}}
{{- if .Values.redis.auth.password -}}
{{- .Values.redis.auth.password -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "starling.fullname" .) -}}
{{- if and $existing $existing.data (hasKey $existing.data "redis-password") -}}
{{- index $existing.data "redis-password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Does the chart create its own Secret (Redis password, TLS files, admin token, secret key)? */}}
{{- define "starling.secret.create" -}}
{{- $redis := and (include "starling.redis.hasPassword" .) (not .Values.redis.auth.existingSecret) -}}
{{- $tls := and .Values.tls.enabled (not .Values.tls.existingSecret) -}}
{{- $auth := or (not .Values.auth.adminToken.existingSecret) (not .Values.auth.secretKey.existingSecret) -}}
{{- $metrics := and .Values.metrics.bearerToken.enabled (not .Values.metrics.bearerToken.existingSecret) -}}
{{- if or $redis $tls $auth $metrics -}}true{{- end -}}
{{- end -}}

{{/* The Secret and key of the /metrics bearer token (with metrics.bearerToken.enabled). */}}
{{- define "starling.metricsToken.secretName" -}}
{{- default (include "starling.fullname" .) .Values.metrics.bearerToken.existingSecret -}}
{{- end -}}
{{- define "starling.metricsToken.secretKey" -}}
{{- ternary .Values.metrics.bearerToken.existingSecretKey "metrics-token" (ne .Values.metrics.bearerToken.existingSecret "") -}}
{{- end -}}

{{/* Where the pods keep tenancy files in embedded mode (an emptyDir; cluster mode keeps all of it in Redis). */}}
{{- define "starling.dataDir" -}}/var/lib/starling{{- end -}}

{{/*
A secret value of the chart's Secret: the given one, else the one already in the release's
Secret (so upgrades keep it), else a new random one. Call with (dict "value" V "key" K "length" N "ctx" $).
*/}}
{{- define "starling.generatedSecret" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace (include "starling.fullname" .ctx) -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum (int .length) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Redis URL the pods use (never with a password: that comes from the Secret). */}}
{{- define "starling.redis.url" -}}
{{- if eq .Values.redis.mode "bundled" -}}
{{- printf "redis://%s.%s.svc:%d/0" (include "starling.redis.fullname" .) .Release.Namespace (int .Values.redis.bundled.port) -}}
{{- else if ne .Values.redis.mode "none" -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/*
"true" when a CRD-based monitoring object is wanted: `enabled: true` forces it, `false` never,
`auto` only when the cluster serves monitoring.coreos.com/v1 (the Prometheus Operator's CRDs).
Call with (dict "enabled" VALUE "ctx" $).
*/}}
{{- define "starling.monitoring.enabled" -}}
{{- if eq (toString .enabled) "auto" -}}
{{- if .ctx.Capabilities.APIVersions.Has "monitoring.coreos.com/v1" -}}true{{- end -}}
{{- else if eq (toString .enabled) "true" -}}true
{{- end -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the preStop sleep, then the drain (drainSeconds), then a margin
for the last flush; an explicit value must exceed the first two (validateValues checks it).
*/}}
{{- define "starling.terminationGracePeriodSeconds" -}}
{{- if .Values.drain.terminationGracePeriodSeconds -}}
{{- .Values.drain.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add .Values.drain.preStopSleepSeconds .Values.drain.seconds .Values.drain.marginSeconds -}}
{{- end -}}
{{- end -}}

{{/* Starling's config file (config.yaml): the user's `config`, plus what the chart decides. */}}
{{- define "starling.config" -}}
{{- $l := .Values.listeners -}}
{{- $derived := dict
  "mqtt" (dict "host" "0.0.0.0" "port" $l.mqtt.port "proxyProtocol" .Values.service.proxyProtocol.enabled "proxyProtocolTrustedCidrs" .Values.service.proxyProtocol.trustedCidrs)
  "ws" (dict "enabled" $l.ws.enabled "port" $l.ws.port "path" $l.ws.path)
  "wss" (dict "port" $l.wss.port)
  "http" (dict "host" "0.0.0.0" "port" $l.http.port)
  "drainSeconds" .Values.drain.seconds
  "dataDir" (include "starling.dataDir" .)
  "auth" (dict "defaultBrokerAuthType" .Values.auth.defaultBrokerAuthType)
-}}
{{- if .Values.tls.enabled -}}
{{- $tls := dict "port" $l.mqtts.port "certFile" (printf "%s/tls.crt" (include "starling.tlsDir" .)) "keyFile" (printf "%s/tls.key" (include "starling.tlsDir" .)) -}}
{{- if .Values.tls.verifyClients -}}{{- $_ := set $tls "caFile" (printf "%s/ca.crt" (include "starling.tlsDir" .)) -}}{{- end -}}
{{- $_ := set $derived "tls" $tls -}}
{{- end -}}
{{- $redis := dict -}}
{{- $url := include "starling.redis.url" . -}}
{{- if $url -}}{{- $_ := set $redis "url" $url -}}{{- end -}}
{{- if eq .Values.redis.mode "sentinel" -}}
{{- $_ := set $redis "sentinels" .Values.redis.sentinel.nodes -}}
{{- $_ := set $redis "name" .Values.redis.sentinel.masterName -}}
{{- else if eq .Values.redis.mode "cluster" -}}
{{- $_ := set $redis "cluster" (dict "nodes" .Values.redis.cluster.nodes) -}}
{{- end -}}
{{- if $redis -}}{{- $_ := set $derived "redis" $redis -}}{{- end -}}
{{- toYaml (mustMergeOverwrite (deepCopy (default dict .Values.config)) $derived) -}}
{{- end -}}

{{/* The MQTT ports the chart serves: name, container port, Service port, nodePort. */}}
{{- define "starling.mqttPorts" -}}
{{- $l := .Values.listeners -}}
{{- $s := .Values.service -}}
{{- $ports := list (dict "name" "mqtt" "port" $l.mqtt.port "servicePort" $s.ports.mqtt "nodePort" $s.nodePorts.mqtt) -}}
{{- if .Values.tls.enabled -}}
{{- $ports = append $ports (dict "name" "mqtts" "port" $l.mqtts.port "servicePort" $s.ports.mqtts "nodePort" $s.nodePorts.mqtts) -}}
{{- end -}}
{{- if $l.ws.enabled -}}
{{- $ports = append $ports (dict "name" "ws" "port" $l.ws.port "servicePort" $s.ports.ws "nodePort" $s.nodePorts.ws) -}}
{{- if .Values.tls.enabled -}}
{{- $ports = append $ports (dict "name" "wss" "port" $l.wss.port "servicePort" $s.ports.wss "nodePort" $s.nodePorts.wss) -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "ports" $ports) -}}
{{- end -}}
