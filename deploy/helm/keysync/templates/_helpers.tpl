{{/* The chart's name, overridable. */}}
{{- define "keysync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: objects are named after it. */}}
{{- define "keysync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "keysync.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "keysync.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "keysync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keysync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keysync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "keysync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "keysync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keysync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The daemon modes serve /healthz, /readyz and /metrics. */}}
{{- define "keysync.daemon" -}}
{{- if ne .Values.mode "cronjob" }}true{{- end }}
{{- end }}

{{/* Refuses values that cannot work, before anything is rendered. */}}
{{- define "keysync.validate" -}}
{{- if not (has .Values.mode (list "deployment" "statefulset" "cronjob")) }}
{{- fail (printf "mode must be deployment, statefulset or cronjob, not %q" .Values.mode) }}
{{- end }}
{{- if lt (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be at least 1" }}
{{- end }}
{{- if and (eq .Values.mode "deployment") (gt (int .Values.replicaCount) 1) }}
{{- fail "mode deployment runs one replica: use mode statefulset to shard accounts over replicaCount pods" }}
{{- end }}
{{- if and .Values.api.token.enabled (not .Values.api.token.existingSecret) }}
{{- fail "api.token.enabled needs api.token.existingSecret, the Secret holding the token" }}
{{- end }}
{{- if regexMatch "(?m)^\\s*(listen|shard)\\s*=" .Values.config }}
{{- fail "config: remove listen and shard, the chart sets them (port, replicaCount)" }}
{{- end }}
{{- if regexMatch "(?m)^\\s*\\[api\\]" .Values.config }}
{{- fail "config: remove [api], the chart writes it from api.token" }}
{{- end }}
{{- if and (eq .Values.mode "cronjob") (or .Values.serviceMonitor.enabled .Values.prometheusRule.enabled) }}
{{- fail "mode cronjob serves no metrics: disable serviceMonitor and prometheusRule" }}
{{- end }}
{{- end }}

{{/* The pod spec shared by the Deployment, the StatefulSet and the CronJob. */}}
{{- define "keysync.podSpec" -}}
serviceAccountName: {{ include "keysync.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- if eq .Values.mode "cronjob" }}
restartPolicy: Never
{{- end }}
containers:
  - name: keysync
    image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    {{- if or (eq .Values.mode "statefulset") .Values.env }}
    env:
      {{- if eq .Values.mode "statefulset" }}
      # The pod's ordinal, 0 to replicaCount-1 (Kubernetes 1.28 and later).
      - name: POD_INDEX
        valueFrom:
          fieldRef:
            fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
      {{- end }}
      {{- with .Values.env }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- end }}
    args:
      - --config
      - /etc/keysync/config.toml
      - --log-format
      - json
      {{- if eq .Values.mode "statefulset" }}
      - --shard
      - $(POD_INDEX)/{{ .Values.replicaCount }}
      {{- end }}
      {{- if eq .Values.mode "cronjob" }}
      - --run-now
      {{- end }}
    {{- if include "keysync.daemon" . }}
    ports:
      - name: http
        containerPort: {{ .Values.port }}
        protocol: TCP
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      periodSeconds: 20
      failureThreshold: 3
    readinessProbe:
      httpGet:
        path: {{ .Values.readinessPath }}
        port: http
      periodSeconds: 10
    {{- end }}
    resources:
      {{- toYaml .Values.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/keysync
        readOnly: true
      {{- if .Values.api.token.enabled }}
      - name: api-token
        mountPath: /etc/keysync/api
        readOnly: true
      {{- end }}
      {{- with .Values.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "keysync.fullname" . }}
  {{- if .Values.api.token.enabled }}
  - name: api-token
    secret:
      secretName: {{ .Values.api.token.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.api.token.key }}
          path: token
  {{- end }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod template's metadata. */}}
{{- define "keysync.podMetadata" -}}
labels:
  {{- include "keysync.selectorLabels" . | nindent 2 }}
  {{- if .Values.workloadIdentity.enabled }}
  azure.workload.identity/use: "true"
  {{- end }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  # A new config rolls the pods.
  checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
