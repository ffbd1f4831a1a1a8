{{- /* Names, labels, images and the shared objects come from the workload library (charts/workload). */ -}}

{{/* The Secret holding COINGECKO_API_KEY, or "" when no key is configured. */}}
{{- define "backend.apiKeySecretName" -}}
{{- if .Values.apiKey.existingSecret -}}
{{- .Values.apiKey.existingSecret -}}
{{- else if .Values.apiKey.value -}}
{{- printf "%s-api-key" (include "workload.fullname" (dict "release" .Release.Name "part" .Chart.Name)) -}}
{{- end -}}
{{- end -}}

{{- define "backend.apiKeySecretKey" -}}
{{- ternary .Values.apiKey.existingSecretKey "api-key" (ne .Values.apiKey.existingSecret "") -}}
{{- end -}}

{{/* The container's environment: settings from the ConfigMap, the API key from its Secret. */}}
{{- define "backend.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "workload.fullname" (dict "release" .Release.Name "part" .Chart.Name) }}
{{- with (include "backend.apiKeySecretName" .) }}
env:
  - name: COINGECKO_API_KEY
    valueFrom:
      secretKeyRef:
        name: {{ . }}
        key: {{ include "backend.apiKeySecretKey" $ }}
{{- end }}
{{- end -}}
