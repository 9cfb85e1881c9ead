{{/*
Checks that values make sense together; collects every problem and fails once with all of them.
Types and ranges are checked by values.schema.json before this runs.
*/}}
{{- define "starling.validateValues" -}}
{{- $errors := list -}}
{{- $v := .Values -}}
{{- $r := $v.redis -}}
{{- if and (eq $r.mode "external") (not $r.url) -}}
{{- $errors = append $errors "redis.url: required with redis.mode=external (redis://host:6379/0, rediss:// for TLS)" -}}
{{- end -}}
{{- if regexMatch "^rediss?://[^/@]*:[^/@]+@" (toString $r.url) -}}
{{- $errors = append $errors "redis.url: must not carry a password (it would land in a ConfigMap); use redis.auth.password or redis.auth.existingSecret" -}}
{{- end -}}
{{- if and (eq $r.mode "sentinel") (not $r.sentinel.nodes) -}}
{{- $errors = append $errors "redis.sentinel.nodes: at least one host:port with redis.mode=sentinel" -}}
{{- end -}}
{{- if and (eq $r.mode "cluster") (not $r.cluster.nodes) -}}
{{- $errors = append $errors "redis.cluster.nodes: at least one host:port with redis.mode=cluster" -}}
{{- end -}}
{{- if and (eq $r.mode "bundled") $r.auth.existingSecret -}}
{{- $errors = append $errors "redis.auth.existingSecret: only for an external Redis; the bundled Redis uses redis.auth.password or a generated one" -}}
{{- end -}}
{{- if and (eq $r.mode "none") (or (gt (int $v.replicaCount) 1) $v.autoscaling.enabled) -}}
{{- $errors = append $errors "redis.mode=none keeps all state in one pod's memory: set replicaCount=1 and autoscaling.enabled=false, or pick a Redis" -}}
{{- end -}}
{{- if and $v.tls.enabled (not $v.tls.existingSecret) (or (not $v.tls.cert) (not $v.tls.key)) -}}
{{- $errors = append $errors "tls: enabled needs tls.existingSecret (a kubernetes.io/tls Secret) or both tls.cert and tls.key" -}}
{{- end -}}
{{- if and $v.tls.enabled $v.tls.verifyClients (not $v.tls.existingSecret) (not $v.tls.ca) -}}
{{- $errors = append $errors "tls.verifyClients: needs tls.ca (or ca.crt in tls.existingSecret)" -}}
{{- end -}}
{{- if and $v.service.proxyProtocol.enabled $v.listeners.ws.enabled -}}
{{- $errors = append $errors "service.proxyProtocol.enabled: the WebSocket listeners do not read PROXY headers; set listeners.ws.enabled=false (serve WebSocket through an Ingress instead)" -}}
{{- end -}}
{{- if and (eq (toString $v.auth.defaultBrokerAuthType) "NONE") (not $v.auth.allowAnonymous) -}}
{{- $errors = append $errors "auth.defaultBrokerAuthType: NONE lets anyone who reaches the MQTT ports read and write every topic; set auth.allowAnonymous=true to accept that (development only), or keep TOKEN" -}}
{{- end -}}
{{- if and $v.auth.adminToken.value (lt (len (toString $v.auth.adminToken.value)) 16) -}}
{{- $errors = append $errors "auth.adminToken.value: at least 16 characters (empty: generated)" -}}
{{- end -}}
{{- if and $v.auth.secretKey.value (lt (len (toString $v.auth.secretKey.value)) 32) -}}
{{- $errors = append $errors "auth.secretKey.value: at least 32 characters (empty: generated)" -}}
{{- end -}}
{{- $smNamespace := $v.metrics.serviceMonitor.namespace -}}
{{- if and $v.metrics.bearerToken.enabled $smNamespace (ne $smNamespace .Release.Namespace) -}}
{{- $errors = append $errors "metrics.serviceMonitor.namespace: with metrics.bearerToken.enabled the ServiceMonitor must be in the release's namespace (it reads the token from a Secret there)" -}}
{{- end -}}
{{- $minGrace := add $v.drain.preStopSleepSeconds $v.drain.seconds -}}
{{- if and $v.drain.terminationGracePeriodSeconds (le (int $v.drain.terminationGracePeriodSeconds) (int $minGrace)) -}}
{{- $errors = append $errors (printf "drain.terminationGracePeriodSeconds: must exceed drain.preStopSleepSeconds + drain.seconds (%d), or pods are killed mid-drain" (int $minGrace)) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- $errors = append $errors "autoscaling.minReplicas: must not exceed autoscaling.maxReplicas" -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (not $v.autoscaling.targetCPUUtilizationPercentage) (not $v.autoscaling.connections.enabled) -}}
{{- $errors = append $errors "autoscaling: needs targetCPUUtilizationPercentage or connections.enabled" -}}
{{- end -}}
{{- $owned := dict "mqtt" "listeners.mqtt / service.proxyProtocol" "tls" "tls.* / listeners.mqtts" "ws" "listeners.ws" "wss" "listeners.wss" "http" "listeners.http" "drainSeconds" "drain.seconds" "nodeId" "(the pod name)" "dataDir" "(a volume of the chart)" -}}
{{- range $key, $instead := $owned -}}
{{- if hasKey (default dict $v.config) $key -}}
{{- $errors = append $errors (printf "config.%s: set by the chart; use %s" $key $instead) -}}
{{- end -}}
{{- end -}}
{{- $redisConfig := default dict (get (default dict $v.config) "redis") -}}
{{- range $key := list "url" "password" "sentinels" "name" "cluster" -}}
{{- if hasKey $redisConfig $key -}}
{{- $errors = append $errors (printf "config.redis.%s: set by the chart; use redis.*" $key) -}}
{{- end -}}
{{- end -}}
{{- $secretConfig := dict "auth" (list "secretKey" "defaultBrokerAuthType") "api" (list "adminTokens" "adminTokenFile") "metrics" (list "bearerToken") -}}
{{- range $section, $keys := $secretConfig -}}
{{- $given := default dict (get (default dict $v.config) $section) -}}
{{- range $key := $keys -}}
{{- if hasKey $given $key -}}
{{- $errors = append $errors (printf "config.%s.%s: set by the chart (secrets never go into the ConfigMap); use auth.*" $section $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if hasKey (default dict (get (default dict $v.config) "cluster")) "advertiseHost" -}}
{{- $errors = append $errors "config.cluster.advertiseHost: set by the chart (the pod IP)" -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\nstarling: invalid values:\n  - %s" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}
