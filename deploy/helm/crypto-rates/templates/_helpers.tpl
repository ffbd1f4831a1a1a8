{{- define "crypto-rates.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Names of the subcharts' objects (they follow backend.fullname / frontend.fullname). */}}
{{- define "crypto-rates.backendName" -}}
{{- printf "%s-backend" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "crypto-rates.frontendName" -}}
{{- printf "%s-frontend" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crypto-rates.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: crypto-rates
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.global.commonLabels }}
{{ toYaml . }}
{{- end -}}
{{- end -}}

{{/*
"true" when an API is served by the cluster or listed in global.capabilities.apiVersions
(offline rendering cannot ask a cluster). Call with (dict "ctx" $ "api" "group/version/Kind").
*/}}
{{- define "crypto-rates.apiAvailable" -}}
{{- $groupVersion := regexReplaceAll "/[^/]+$" .api "" -}}
{{- $listed := .ctx.Values.global.capabilities.apiVersions -}}
{{- if or (.ctx.Capabilities.APIVersions.Has .api) (has .api $listed) (has $groupVersion $listed) -}}
true
{{- end -}}
{{- end -}}
