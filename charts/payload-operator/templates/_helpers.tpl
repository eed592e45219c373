{{/* Names, labels and the derived settings every template shares. */}}

{{- define "payload-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "payload-operator.fullname" -}}
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

{{- define "payload-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "payload-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "payload-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "payload-operator.labels" -}}
helm.sh/chart: {{ include "payload-operator.chart" . }}
{{ include "payload-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: payload-operator
{{- end }}

{{- define "payload-operator.serviceAccountName" -}}
{{- default (include "payload-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "payload-operator.runnerServiceAccountName" -}}
{{- .Values.runner.serviceAccount.name }}
{{- end }}

{{- define "payload-operator.peeringName" -}}
{{- default (include "payload-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* Whether Kopf peering is on: more than one replica. */}}
{{- define "payload-operator.peering" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{- define "payload-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The operator pods' selector, as the pod template labels them. */}}
{{- define "payload-operator.operatorSelectorLabels" -}}
{{ include "payload-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* topologySpreadConstraints, each without a labelSelector given one that selects the operator's pods (JSON). */}}
{{- define "payload-operator.topologySpreadConstraints" -}}
{{- $selector := dict "matchLabels" (include "payload-operator.operatorSelectorLabels" . | fromYaml) }}
{{- $constraints := list }}
{{- range .Values.topologySpreadConstraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" $selector }}
{{- end }}
{{- $constraints = append $constraints $constraint }}
{{- end }}
{{- $constraints | toJson }}
{{- end }}

{{/* Runner Job settings set in values, keyed by their PAYLOAD_OPERATOR_JOB_* suffix (JSON object). */}}
{{- define "payload-operator.runnerPlacement" -}}
{{- $runner := .Values.runner }}
{{- $all := dict "NODE_SELECTOR" $runner.nodeSelector "TOLERATIONS" $runner.tolerations "AFFINITY" $runner.affinity "IMAGE_PULL_SECRETS" $runner.imagePullSecrets "RESOURCES" $runner.resources }}
{{- $set := dict }}
{{- range $name, $value := $all }}
{{- if $value }}
{{- $_ := set $set $name $value }}
{{- end }}
{{- end }}
{{- $set | toJson }}
{{- end }}

{{/* The namespaces the operator watches, as a JSON list; [] means every namespace. */}}
{{- define "payload-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- .Values.watchNamespaces | uniq | toJson }}
{{- else if eq .Values.rbac.scope "namespace" }}
{{- list .Release.Namespace | toJson }}
{{- else }}
{{- list | toJson }}
{{- end }}
{{- end }}

{{/* Namespaces that get the Job runner ServiceAccount and Role, as a JSON list. */}}
{{- define "payload-operator.runnerNamespaces" -}}
{{- $namespaces := .Values.runner.namespaces }}
{{- if eq .Values.rbac.scope "namespace" }}
{{- $namespaces = concat (include "payload-operator.watchNamespaces" . | fromJsonArray) $namespaces }}
{{- end }}
{{- $namespaces | uniq | toJson }}
{{- end }}

{{/* The arguments of `payload-operator run`, as a JSON list. */}}
{{- define "payload-operator.args" -}}
{{- $args := list "run" (printf "--log-format=%s" .Values.logFormat) (printf "--liveness=http://0.0.0.0:%d/healthz" (int .Values.livenessProbe.port)) }}
{{- if .Values.readinessProbe.enabled }}
{{- $args = append $args (printf "--readiness=http://0.0.0.0:%d/readyz" (int .Values.readinessProbe.port)) }}
{{- end }}
{{- $namespaces := include "payload-operator.watchNamespaces" . | fromJsonArray }}
{{- if $namespaces }}
{{- range $namespaces }}
{{- $args = append $args (printf "--namespace=%s" .) }}
{{- end }}
{{- else }}
{{- $args = append $args "--all-namespaces" }}
{{- end }}
{{- if include "payload-operator.peering" . }}
{{- $args = append $args (printf "--peering=%s" (include "payload-operator.peeringName" .)) }}
{{- else }}
{{- $args = append $args "--standalone" }}
{{- end }}
{{- if .Values.verbose }}
{{- $args = append $args "--verbose" }}
{{- end }}
{{- concat $args .Values.extraArgs | toJson }}
{{- end }}

{{/* Rules for the Secrets the operator reads and writes (see rbac.secretNames). */}}
{{- define "payload-operator.secretRules" -}}
{{- if .Values.rbac.secretNames }}
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ .Values.rbac.secretNames | uniq | toJson }}
  verbs: [get]
{{- if .Values.rbac.ownedSecretNames }}
- apiGroups: [""]
  resources: [secrets]
  resourceNames: {{ .Values.rbac.ownedSecretNames | uniq | toJson }}
  verbs: [get, patch, update]
{{- end }}
{{- else }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, patch, update]
{{- end }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [create]
{{- end }}

{{/* What the operator does to application objects, in each namespace it watches. */}}
{{- define "payload-operator.operatorRules" -}}
- apiGroups: [payloads.durable-workflow.io]
  resources: [externalpayloadstorages]
  verbs: [get, list, watch, patch]
- apiGroups: [payloads.durable-workflow.io]
  resources: [externalpayloadstorages/status]
  verbs: [get, patch]
# owner references with blockOwnerDeletion need this where OwnerReferencesPermissionEnforcement is on
- apiGroups: [payloads.durable-workflow.io]
  resources: [externalpayloadstorages/finalizers]
  verbs: [update]
{{ include "payload-operator.secretRules" . }}
# the published <name>-policy ConfigMaps, and the result ConfigMaps of Job runs
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* The operator's rights on the Jobs of retention and integrity runs: only in runner.namespaces. */}}
{{- define "payload-operator.jobRules" -}}
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]
{{- end }}

{{/* What retention and integrity Job pods do. */}}
{{- define "payload-operator.runnerRules" -}}
- apiGroups: [payloads.durable-workflow.io]
  resources: [externalpayloadstorages]
  verbs: [get]
- apiGroups: [""]
  resources: [secrets]
  {{- if .Values.rbac.secretNames }}
  resourceNames: {{ .Values.rbac.secretNames | uniq | toJson }}
  {{- end }}
  verbs: [get]
# the result ConfigMap a shard writes (owned by its Job, whose uid the pod learns from the downward API)
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
{{- end }}
