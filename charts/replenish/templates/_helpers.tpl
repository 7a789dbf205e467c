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
