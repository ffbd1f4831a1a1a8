{{- /*
Names, labels and images of the crypto-rates parts. Every define takes a dict of named arguments;
"context" is the calling chart's root context ($), whose .Values are that chart's own values.
*/ -}}

{{/*
Name of a part's objects, <release>-<part> (cut to 63 characters): the one place it is computed,
for a chart's own objects and for those of another chart it points at.
Usage: {{ include "workload.fullname" (dict "release" .Release.Name "part" "backend") }}
*/}}
{{- define "workload.fullname" -}}
{{- printf "%s-%s" .release .part | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels that select a part's pods.
Usage: {{ include "workload.selectorLabels" (dict "release" .Release.Name "part" "backend") }}
*/}}
{{- define "workload.selectorLabels" -}}
app.kubernetes.io/name: {{ .part }}
app.kubernetes.io/instance: {{ .release }}
{{- end -}}

{{/*
Labels on every object of a chart; "component" (api, web) is left out when empty. "part" names a
second workload of the chart (its own name and selector labels, e.g. the backend's "database");
it defaults to the chart's name.
Usage: {{ include "workload.labels" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.labels" -}}
{{- $chart := .context.Chart -}}
helm.sh/chart: {{ printf "%s-%s" $chart.Name $chart.Version | replace "+" "_" }}
{{ include "workload.selectorLabels" (dict "release" .context.Release.Name "part" (default $chart.Name .part)) }}
app.kubernetes.io/version: {{ $chart.AppVersion | quote }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: crypto-rates
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- with .context.Values.global.commonLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/*
The metadata block of a part's namespaced object, named <release>-<part> ("part" as in
workload.labels: default the chart's name).
Usage: {{ include "workload.metadata" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.metadata" -}}
metadata:
  name: {{ include "workload.fullname" (dict "release" .context.Release.Name "part" (default .context.Chart.Name .part)) }}
  namespace: {{ .context.Release.Namespace }}
  labels:
    {{- include "workload.labels" . | nindent 4 }}
{{- end -}}

{{/*
The pod label that lets the backend's NetworkPolicy admit a pod of this release.
Usage: {{ include "workload.backendClientLabel" . }}
*/}}
{{- define "workload.backendClientLabel" -}}
crypto-rates.io/backend-client: "true"
{{- end -}}

{{/*
An image reference: registry/repository@digest, or registry/repository:tag (tag default: appVersion).
The image's own registry wins over global.imageRegistry; both empty: the repository as is.
Usage: {{ include "workload.image" (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion) }}
*/}}
{{- define "workload.image" -}}
{{- $registry := default .global.imageRegistry .image.registry -}}
{{- $repository := ternary (printf "%s/%s" $registry .image.repository) .image.repository (ne $registry "") -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .appVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The ServiceAccount a part's pods run as.
Usage: {{ include "workload.serviceAccountName" (dict "context" $) }}
*/}}
{{- define "workload.serviceAccountName" -}}
{{- $account := .context.Values.serviceAccount -}}
{{- if $account.create -}}
{{- default (include "workload.fullname" (dict "release" .context.Release.Name "part" .context.Chart.Name)) $account.name -}}
{{- else -}}
{{- default "default" $account.name -}}
{{- end -}}
{{- end -}}
