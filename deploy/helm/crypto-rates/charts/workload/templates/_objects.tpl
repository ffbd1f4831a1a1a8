{{/*
The Service in front of a part's pods: its http port to the container port named http. A second
workload of the chart ("part" as in workload.labels) passes its own ClusterIP port as
"port" (dict "name" "postgres" "port" 5432).
Usage: {{ include "workload.service" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.service" -}}
{{- $ctx := .context -}}
{{- $port := .port | default (dict "name" "http" "port" $ctx.Values.service.port "type" $ctx.Values.service.type) -}}
apiVersion: v1
kind: Service
{{ include "workload.metadata" . }}
spec:
  type: {{ $port.type | default "ClusterIP" }}
  ports:
    - name: {{ $port.name }}
      port: {{ $port.port }}
      targetPort: {{ $port.name }}
      protocol: TCP
  selector:
    {{- include "workload.selectorLabels" (dict "release" $ctx.Release.Name "part" (default $ctx.Chart.Name .part)) | nindent 4 }}
{{- end -}}

{{/*
The HorizontalPodAutoscaler of a part, on CPU and memory, when autoscaling.enabled.
Usage: {{ include "workload.hpa" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.hpa" -}}
{{- $ctx := .context -}}
{{- with $ctx.Values.autoscaling }}
{{- if .enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
{{ include "workload.metadata" $ }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "workload.fullname" (dict "release" $ctx.Release.Name "part" $ctx.Chart.Name) }}
  minReplicas: {{ .minReplicas }}
  maxReplicas: {{ .maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ .targetMemoryUtilizationPercentage }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The PodDisruptionBudget of a part, only when more than one replica is possible (a PDB at one
replica would block every node drain).
Usage: {{ include "workload.pdb" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.pdb" -}}
{{- $ctx := .context -}}
{{- $values := $ctx.Values -}}
{{- $autoscaled := and $values.autoscaling.enabled (gt (int $values.autoscaling.maxReplicas) 1) -}}
{{- if and $values.podDisruptionBudget.enabled (or (gt (int $values.replicaCount) 1) $autoscaled) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
{{ include "workload.metadata" . }}
spec:
  maxUnavailable: {{ $values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "workload.selectorLabels" (dict "release" $ctx.Release.Name "part" $ctx.Chart.Name) | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
The ServiceAccount of a part, when serviceAccount.create; no API token is mounted.
Usage: {{ include "workload.serviceAccount" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.serviceAccount" -}}
{{- $ctx := .context -}}
{{- with $ctx.Values.serviceAccount }}
{{- if .create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "workload.serviceAccountName" $ }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "workload.labels" $ | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The {{ $ctx.Chart.Name }} never talks to the Kubernetes API.
automountServiceAccountToken: false
{{- end }}
{{- end }}
{{- end -}}

{{/*
The head of a part's NetworkPolicy: it selects the part's pods and governs both directions. The
part's chart writes the rules, starting with "ingress:". "part" as in workload.labels.
Usage: {{ include "workload.networkPolicy" (dict "context" $ "component" "api") }}
*/}}
{{- define "workload.networkPolicy" -}}
{{- $ctx := .context -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
{{ include "workload.metadata" . }}
spec:
  podSelector:
    matchLabels:
      {{- include "workload.selectorLabels" (dict "release" $ctx.Release.Name "part" (default $ctx.Chart.Name .part)) | nindent 6 }}
  policyTypes: [Ingress, Egress]
{{- end -}}

{{/*
The egress rule every part needs: DNS over UDP and TCP, to the cluster DNS only (CoreDNS as EKS,
kubeadm and kind run it: namespace kube-system, label k8s-app=kube-dns), not port 53 anywhere.
Usage: {{- include "workload.dnsEgress" . | nindent 4 }}
*/}}
{{- define "workload.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}
