{{/*
The Deployment of one part: restricted pods on a read-only root, spread over zones and nodes, with
probes, a pre-stop pause and emptyDir volumes for the paths that must stay writable.
Arguments besides "context" and "component":
  port            the container port, named http
  env             the container's env/envFrom block as YAML (rendered by the part's chart), or ""
  writable        list of (dict "name" "tmp" "path" "/tmp"): an emptyDir volume mounted at each path
  checksums       optional: pod annotations that roll the pods when what they hash changes
  secretFile      optional: (dict "secret" NAME "key" KEY "path" DIR): that key of that Secret as
                  the file DIR/KEY, mounted as a directory (never subPath) so the kubelet updates it
                  in place when the Secret changes
  backendClient   optional: true labels the pods as API clients the backend admits
Usage: {{ include "workload.deployment" (dict "context" $ "component" "web" "port" 8080 "env" (include "frontend.env" .) "writable" (list (dict "name" "tmp" "path" "/tmp"))) }}
*/}}
{{- define "workload.deployment" -}}
{{- $ctx := .context -}}
{{- $values := $ctx.Values -}}
{{- $selector := include "workload.selectorLabels" (dict "release" $ctx.Release.Name "part" $ctx.Chart.Name) -}}
{{- if gt (int $values.autoscaling.minReplicas) (int $values.autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) must not exceed maxReplicas (%v)" $ctx.Chart.Name $values.autoscaling.minReplicas $values.autoscaling.maxReplicas) }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
{{ include "workload.metadata" . }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      {{- if or .checksums $values.podAnnotations }}
      annotations:
        {{- with .checksums }}
        # A settings or key change rolls the pods.
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      labels:
        {{- include "workload.labels" . | nindent 8 }}
        {{- if .backendClient }}
        # Lets the backend's NetworkPolicy admit this pod.
        {{- include "workload.backendClientLabel" . | nindent 8 }}
        {{- end }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "workload.serviceAccountName" . }}
      automountServiceAccountToken: false
      {{- with (concat $values.global.imagePullSecrets $values.imagePullSecrets) }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $values.podSecurityContext | nindent 8 }}
      {{- if $values.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - maxSkew: {{ $values.topologySpread.maxSkew }}
          topologyKey: {{ . }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- $selector | nindent 14 }}
        {{- end }}
      {{- end }}
      {{- if $values.podAntiAffinity.enabled }}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: {{ $values.podAntiAffinity.weight }}
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- $selector | nindent 20 }}
      {{- end }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $ctx.Chart.Name }}
          image: {{ include "workload.image" (dict "image" $values.image "global" $values.global "appVersion" $ctx.Chart.AppVersion) }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          securityContext:
            {{- toYaml $values.securityContext | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
          {{- with .env }}
          {{- . | nindent 10 }}
          {{- end }}
          {{- range $probe := list "startup" "liveness" "readiness" }}
          {{- with index $values.probes $probe }}
          {{ $probe }}Probe:
            httpGet:
              path: {{ .path }}
              port: http
            periodSeconds: {{ .periodSeconds }}
            timeoutSeconds: {{ .timeoutSeconds }}
            failureThreshold: {{ .failureThreshold }}
          {{- end }}
          {{- end }}
          {{- if $values.preStopSleepSeconds }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ $values.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          volumeMounts:
            {{- range .writable }}
            - name: {{ .name }}
              mountPath: {{ .path }}
            {{- end }}
            {{- with .secretFile }}
            - name: secret-file
              mountPath: {{ .path }}
              readOnly: true
            {{- end }}
      volumes:
        # The root filesystem is read-only; these are the only writable paths.
        {{- range .writable }}
        - name: {{ .name }}
          emptyDir:
            sizeLimit: 64Mi
        {{- end }}
        {{- with .secretFile }}
        - name: secret-file
          secret:
            secretName: {{ .secret }}
            defaultMode: 0444
            items:
              - key: {{ .key }}
                path: {{ .key }}
        {{- end }}
{{- end -}}
