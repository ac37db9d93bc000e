{{- define "mail-relay-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mail-relay-operator.fullname" -}}
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

{{- define "mail-relay-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mail-relay-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "mail-relay-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mail-relay-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mail-relay-operator
{{- end }}

{{- define "mail-relay-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mail-relay-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mail-relay-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The operator's rules on the objects it reconciles and owns; a ClusterRole or a Role per watched namespace. */}}
{{- define "mail-relay-operator.rules" -}}
- apiGroups: [mailrelay.dev]
  resources: [mailrelays, sendingdomains]
  verbs: [get, list, watch]
- apiGroups: [mailrelay.dev]
  resources: [mailrelays/status, sendingdomains/status]
  verbs: [get, patch, update]
- apiGroups: [""]
  resources: [configmaps, secrets, services]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [cert-manager.io]
  resources: [certificates]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
# relay pods: their addresses for the admin API, and a label taking a draining pod out of its Service
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch]
# a drained pod's spool volume claim is deleted once its queue is empty
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* A number as a plain decimal for PromQL: 0.003, not 3e-03; 3600, not 3600.000000. */}}
{{- define "mail-relay-operator.number" -}}
{{- regexReplaceAll "\\.?0+$" (printf "%f" (float64 .)) "" }}
{{- end }}
