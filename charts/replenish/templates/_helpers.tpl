{{/* Names: the app is the release's fullname, the operator "<fullname>-operator". */}}
{{- define "replenish.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "replenish.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "replenish.operatorName" -}}
{{- printf "%s-operator" (include "replenish.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "replenish.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: replenish
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "app"). */}}
{{- define "replenish.selectorLabels" -}}
app.kubernetes.io/name: {{ include "replenish.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "replenish.componentLabels" -}}
{{ include "replenish.labels" .ctx }}
{{ include "replenish.selectorLabels" . }}
{{- end }}

{{- define "replenish.appImage" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "replenish.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "replenish.appServiceAccountName" -}}
{{- if .Values.app.serviceAccount.create }}
{{- default (include "replenish.fullname" .) .Values.app.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.app.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "replenish.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "replenish.operatorName" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret holding the app's environment: DATABASE_URL, REDIS_URL, REPLENISH_ADMIN_TOKEN,
SENTRY_DSN. Keys are the variable names because the operator copies this Secret into
dedicated tenants' namespaces and hands it to their app as envFrom.
*/}}
{{- define "replenish.envSecretName" -}}
{{- default (printf "%s-env" (include "replenish.fullname" .)) .Values.existingSecret }}
{{- end }}

{{/* The shared app's in-cluster URL: the operator's admin endpoint and shared tenants' endpoint. */}}
{{- define "replenish.appUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "replenish.fullname" .) .Release.Namespace (int .Values.app.service.port) }}
{{- end }}

{{/*
The admin token to write: the value given, else the one already in the cluster (so upgrades
keep it), else a new random one. Call with (dict "value" .Values.adminToken.value "existing" $secret);
`existing` is what `lookup` returned: an empty map under `helm template` and on first install.
*/}}
{{- define "replenish.adminToken" -}}
{{- $kept := dig "data" "REPLENISH_ADMIN_TOKEN" "" .existing }}
{{- if .value }}
{{- .value }}
{{- else if $kept }}
{{- $kept | b64dec }}
{{- else }}
{{- printf "rpl_a_%s" (randAlphaNum 43) }}
{{- end }}
{{- end }}

{{/* Container securityContext shared by every container the chart runs. */}}
{{- define "replenish.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/*
The app's non-secret settings (REPLENISH_* variables): the data of the app's ConfigMap, and
the `env` the operator gives dedicated tenants' apps (operator ConfigMap, dedicated-app.yaml).
*/}}
{{- define "replenish.appConfigData" -}}
{{- $c := .Values.app.config -}}
REPLENISH_LISTEN: {{ printf "0.0.0.0:%d" (int .Values.app.port) | quote }}
REPLENISH_METRICS_LISTEN: {{ printf "0.0.0.0:%d" (int .Values.app.metricsPort) | quote }}
# The migrations Job owns the schema; replicas never migrate.
REPLENISH_RUN_MIGRATIONS: "false"
REPLENISH_LOG_FORMAT: json
REPLENISH_ENVIRONMENT: {{ $c.environment | quote }}
REPLENISH_LOG_LEVEL: {{ $c.logLevel | quote }}
REPLENISH_BODY_LIMIT_BYTES: {{ $c.bodyLimitBytes | int64 | quote }}
REPLENISH_BATCH_BODY_LIMIT_BYTES: {{ $c.batchBodyLimitBytes | int64 | quote }}
REPLENISH_WORKERS: {{ $c.workers | int64 | quote }}
REPLENISH_DB_MAX_CONNECTIONS: {{ $c.dbMaxConnections | int64 | quote }}
REPLENISH_SHUTDOWN_TIMEOUT_SECS: {{ $c.shutdownTimeoutSecs | int64 | quote }}
REPLENISH_IP_PER_MINUTE: {{ $c.ipPerMinute | int64 | quote }}
REPLENISH_TRUST_FORWARDED_FOR: {{ $c.trustForwardedFor | quote }}
REPLENISH_REDIS_PREFIX: {{ $c.redisPrefix | quote }}
REPLENISH_ACTOR_IDLE_TIMEOUT_MS: {{ $c.actorIdleTimeoutMs | int64 | quote }}
REPLENISH_MAILBOX_CAPACITY: {{ $c.mailboxCapacity | int64 | quote }}
REPLENISH_STORE_MAILBOX_CAPACITY: {{ $c.storeMailboxCapacity | int64 | quote }}
REPLENISH_CREDENTIAL_CACHE_SECS: {{ $c.credentialCacheSecs | int64 | quote }}
REPLENISH_COMMERCE_TIMEOUT_MS: {{ $c.commerceTimeoutMs | int64 | quote }}
REPLENISH_SWEEP_INTERVAL_SECS: {{ $c.sweepIntervalSecs | int64 | quote }}
{{- $a := .Values.assistant }}
OPENAI_BASE_URL: {{ $a.baseUrl | quote }}
REPLENISH_VISION_MODEL: {{ $a.visionModel | quote }}
REPLENISH_SPEECH_MODEL: {{ $a.speechModel | quote }}
REPLENISH_SPEECH_VOICE: {{ $a.speechVoice | quote }}
{{- end }}
