{{- define "crypto-rates.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
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
