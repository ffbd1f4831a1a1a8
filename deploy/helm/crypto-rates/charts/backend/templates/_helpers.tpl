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

{{/* Where the API key's Secret is mounted: a file the kubelet updates when the Secret changes. */}}
{{- define "backend.apiKeyDir" -}}/var/run/secrets/crypto-rates{{- end -}}

{{/* The bundled database's name: its StatefulSet, Service, NetworkPolicy and generated Secret. */}}
{{- define "backend.databaseName" -}}
{{- include "workload.fullname" (dict "release" .Release.Name "part" "database") -}}
{{- end -}}

{{/* The Secret and key holding the bundled database's password. */}}
{{- define "backend.databasePasswordSecret" -}}
{{- default (include "backend.databaseName" .) .Values.database.bundled.existingSecret -}}
{{- end -}}

{{- define "backend.databasePasswordKey" -}}
{{- ternary .Values.database.bundled.existingSecretKey "password" (ne .Values.database.bundled.existingSecret "") -}}
{{- end -}}

{{/*
The container's environment: settings from the ConfigMap; the API key as a file from its Secret
(COINGECKO_API_KEY_FILE), re-read by the backend when CoinGecko refuses the key, so a rotated key
takes effect without a restart (an env var from a Secret is fixed at pod start); DATABASE_URL from
a Secret. For the bundled database the URL is composed by Kubernetes from the password's Secret
($(DATABASE_PASSWORD)), so the password is in no value, ConfigMap or manifest.
*/}}
{{- define "backend.env" -}}
{{- $database := .Values.database -}}
{{- $env := list -}}
{{- with (include "backend.apiKeySecretName" .) }}
{{- $env = append $env (dict "name" "COINGECKO_API_KEY_FILE" "value" (printf "%s/%s" (include "backend.apiKeyDir" $) (include "backend.apiKeySecretKey" $))) }}
{{- end }}
{{- if $database.external.existingSecret }}
{{- $env = append $env (dict "name" "DATABASE_URL" "valueFrom" (dict "secretKeyRef" (dict "name" $database.external.existingSecret "key" $database.external.existingSecretKey))) }}
{{- else if $database.bundled.enabled }}
{{- $env = append $env (dict "name" "DATABASE_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" (include "backend.databasePasswordSecret" .) "key" (include "backend.databasePasswordKey" .)))) }}
{{- $url := printf "postgresql://%s:$(DATABASE_PASSWORD)@%s:5432/%s" $database.bundled.username (include "backend.databaseName" .) $database.bundled.database }}
{{- $env = append $env (dict "name" "DATABASE_URL" "value" $url) }}
{{- end -}}
envFrom:
  - configMapRef:
      name: {{ include "workload.fullname" (dict "release" .Release.Name "part" .Chart.Name) }}
{{- with $env }}
env:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
