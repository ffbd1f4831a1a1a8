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

{{/* The container's environment: settings from the ConfigMap; the API key as a file from its
Secret (COINGECKO_API_KEY_FILE), re-read by the backend when CoinGecko refuses the key, so a
rotated key takes effect without a restart (an env var from a Secret is fixed at pod start). */}}
{{- define "backend.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "workload.fullname" (dict "release" .Release.Name "part" .Chart.Name) }}
{{- if (include "backend.apiKeySecretName" .) }}
env:
  - name: COINGECKO_API_KEY_FILE
    value: {{ printf "%s/%s" (include "backend.apiKeyDir" .) (include "backend.apiKeySecretKey" .) | quote }}
{{- end }}
{{- end -}}
