{{- /* Names, labels, images and the shared objects come from the workload library (charts/workload). */ -}}

{{/* The container's environment: where nginx proxies /api to, where it listens, its micro-cache TTL. */}}
{{- define "frontend.env" -}}
env:
  - name: BACKEND_URL
    value: {{ include "frontend.backendUrl" . | quote }}
  - name: LISTEN_PORT
    value: "8080"
  - name: MICRO_CACHE_TTL
    value: {{ .Values.microCacheTtlSeconds | int | toString | quote }}
{{- end -}}

{{/* The backend Service of this release (named as the backend chart names it), or backendUrl. */}}
{{- define "frontend.backendUrl" -}}
{{- if .Values.backendUrl -}}
{{- .Values.backendUrl -}}
{{- else -}}
{{- printf "http://%s:%d" (include "workload.fullname" (dict "release" .Release.Name "part" "backend")) (int .Values.backendPort) -}}
{{- end -}}
{{- end -}}
