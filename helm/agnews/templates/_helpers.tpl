{{/* Names ------------------------------------------------------------------------------------- */}}

{{- define "agnews.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agnews.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>"; call with (dict "root" $ "component" "gateway") */}}
{{- define "agnews.componentName" -}}
{{- printf "%s-%s" (include "agnews.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agnews.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agnews.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agnews.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels ------------------------------------------------------------------------------------ */}}

{{- define "agnews.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agnews.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Full label set of a component's objects and pod templates. */}}
{{- define "agnews.labels" -}}
helm.sh/chart: {{ include "agnews.chart" .root }}
{{ include "agnews.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: agnews
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Images ------------------------------------------------------------------------------------ */}}

{{/* (dict "root" $ "image" .Values.gateway.image "suffix" "") */}}
{{- define "agnews.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $repo := .image.repository -}}
{{- if .root.Values.image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $repo -}}
{{- end -}}
{{- printf "%s:%s%s" $repo $tag (default "" .suffix) -}}
{{- end }}

{{- define "agnews.trainerImage" -}}
{{- $suffix := ternary "" "-cpu" .Values.trainer.gpu.enabled -}}
{{- if .Values.trainer.image.tag }}{{ $suffix = "" }}{{ end -}}
{{- include "agnews.image" (dict "root" . "image" .Values.trainer.image "suffix" $suffix) -}}
{{- end }}

{{/* Redis -------------------------------------------------------------------------------------- */}}

{{- define "agnews.redisHost" -}}
{{- include "agnews.componentName" (dict "root" . "component" "redis") -}}
{{- end }}

{{- define "agnews.redisSecretName" -}}
{{- if .Values.redis.enabled -}}
{{- default (printf "%s-auth" (include "agnews.redisHost" .)) .Values.redis.auth.existingSecret -}}
{{- else -}}
{{- default (printf "%s-redis-url" (include "agnews.fullname" .)) .Values.redis.external.existingSecret -}}
{{- end -}}
{{- end }}

{{/* Env vars giving <PREFIX>_REDIS_URL; the password stays in a Secret and is expanded by the kubelet. */}}
{{- define "agnews.redisEnv" -}}
{{- $root := .root -}}
{{- if $root.Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "agnews.redisSecretName" $root }}
      key: {{ ternary $root.Values.redis.auth.existingSecretKey "redis-password" (ne $root.Values.redis.auth.existingSecret "") }}
{{- range .prefixes }}
- name: {{ . }}_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/%d" (include "agnews.redisHost" $root) (int $root.Values.redis.database) | quote }}
{{- end }}
{{- else }}
{{- range .prefixes }}
- name: {{ . }}_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "agnews.redisSecretName" $root }}
      key: {{ ternary $root.Values.redis.external.existingSecretKey "redis-url" (ne $root.Values.redis.external.existingSecret "") }}
{{- end }}
{{- end }}
{{- end }}

{{/* Model registry ------------------------------------------------------------------------------ */}}

{{- define "agnews.registryUri" -}}
{{- if eq .Values.modelRegistry.type "s3" -}}
{{- printf "s3://%s/%s" .Values.modelRegistry.s3.bucket (trimAll "/" .Values.modelRegistry.s3.prefix) | trimSuffix "/" -}}
{{- else -}}
{{- .Values.modelRegistry.pvc.mountPath -}}
{{- end -}}
{{- end }}

{{- define "agnews.registryClaimName" -}}
{{- default (printf "%s-registry" (include "agnews.fullname" .)) .Values.modelRegistry.pvc.existingClaim -}}
{{- end }}

{{/* Env vars for one service prefix: registry location + AWS credentials when they come from keys. */}}
{{- define "agnews.registryEnv" -}}
{{- $root := .root -}}
{{- $s3 := $root.Values.modelRegistry.s3 -}}
{{- range .prefixes }}
- name: {{ . }}_REGISTRY_URI
  valueFrom:
    configMapKeyRef:
      name: {{ include "agnews.fullname" $root }}
      key: REGISTRY_URI
{{- if and (eq $root.Values.modelRegistry.type "s3") $s3.endpointUrl }}
- name: {{ . }}_S3_ENDPOINT_URL
  value: {{ $s3.endpointUrl | quote }}
{{- end }}
{{- if and (eq $root.Values.modelRegistry.type "s3") $s3.region }}
- name: {{ . }}_S3_REGION
  value: {{ $s3.region | quote }}
{{- end }}
{{- end }}
{{- if and (eq $root.Values.modelRegistry.type "s3") $s3.region }}
- name: AWS_DEFAULT_REGION
  value: {{ $s3.region | quote }}
{{- end }}
{{- if and (eq $root.Values.modelRegistry.type "s3") (eq $s3.credentials "keys") }}
{{- $secret := default (printf "%s-aws" (include "agnews.fullname" $root)) $s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: AWS_ACCESS_KEY_ID}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: AWS_SECRET_ACCESS_KEY}
{{- end }}
{{- end }}

{{- define "agnews.authSecretName" -}}
{{- default (printf "%s-auth" (include "agnews.fullname" .)) .Values.auth.existingSecret -}}
{{- end }}

{{/* Pod pieces ---------------------------------------------------------------------------------- */}}

{{/* Writable dirs for a read-only root filesystem; HOME and caches point into /tmp. */}}
{{- define "agnews.tmpEnv" -}}
- name: HOME
  value: /tmp
- name: TMPDIR
  value: /tmp
- name: XDG_CACHE_HOME
  value: /tmp/.cache
{{- end }}

{{- define "agnews.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if eq .Values.modelRegistry.type "pvc" }}
- name: registry
  persistentVolumeClaim:
    claimName: {{ include "agnews.registryClaimName" . }}
{{- end }}
{{- end }}

{{/* /tmp and, on a pvc registry, the registry volume. (dict "root" . "models" M): M "read" mounts the
models/ folder read-only over a writable volume (gateway, batch worker: they write job files and the alias,
never model files); "all-read" mounts everything read-only (inference); anything else, read-write (trainer). */}}
{{- define "agnews.tmpMount" -}}
{{- $root := .root | default . -}}
{{- $models := .models | default "write" -}}
- name: tmp
  mountPath: /tmp
{{- if eq $root.Values.modelRegistry.type "pvc" }}
- name: registry
  mountPath: {{ $root.Values.modelRegistry.pvc.mountPath }}
  {{- if eq $models "all-read" }}
  readOnly: true
  {{- end }}
{{- if eq $models "read" }}
- name: registry
  mountPath: {{ printf "%s/models" (trimSuffix "/" $root.Values.modelRegistry.pvc.mountPath) }}
  subPath: models
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* Shared pod spec head: service account, pull secrets, pod security context. */}}
{{- define "agnews.podCommon" -}}
serviceAccountName: {{ include "agnews.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* nodeSelector / tolerations / affinity of a component's values. */}}
{{- define "agnews.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Checksum annotations so config changes roll the pods. */}}
{{- define "agnews.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/common/common-configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/common/common-secret.yaml") . | sha256sum }}
{{- end }}

{{/* NetworkPolicy peer of the Prometheus that scrapes /metrics. */}}
{{- define "agnews.metricsPeer" -}}
{{- toYaml .Values.networkPolicy.metricsFrom }}
{{- end }}

{{/* NetworkPolicy peer: the pods of one component of this release. */}}
{{- define "agnews.componentPeer" -}}
- podSelector:
    matchLabels:
      {{- include "agnews.selectorLabels" . | nindent 6 }}
{{- end }}

{{/* Trainer container resources: values + the GPU limit (extended resources need request == limit). */}}
{{- define "agnews.trainerResources" -}}
{{- $res := deepCopy .Values.trainer.resources -}}
{{- if .Values.trainer.gpu.enabled -}}
{{- $limits := default (dict) $res.limits -}}
{{- $_ := set $limits .Values.trainer.gpu.resourceName (int .Values.trainer.gpu.count) -}}
{{- $_ := set $res "limits" $limits -}}
{{- end -}}
{{- toYaml $res -}}
{{- end }}

{{/* Trainer pod spec body shared by the worker Deployment and the retraining CronJob. */}}
{{- define "agnews.trainerPod" -}}
{{- $root := .root -}}
{{- $v := $root.Values.trainer -}}
{{- include "agnews.podCommon" $root }}
{{- include "agnews.scheduling" $v }}
{{- with $v.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
containers:
  - name: {{ .container }}
    image: {{ include "agnews.trainerImage" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args: {{ toJson .args }}
    {{- if .metrics }}
    ports:
      - {name: metrics, containerPort: {{ $v.metricsPort }}, protocol: TCP}
    {{- end }}
    envFrom:
      - configMapRef:
          name: {{ include "agnews.fullname" $root }}
    env:
      {{- include "agnews.tmpEnv" $root | nindent 6 }}
      - name: HF_HOME
        value: /work/hf
      {{- include "agnews.redisEnv" (dict "root" $root "prefixes" (list "TRAINER")) | nindent 6 }}
      {{- include "agnews.registryEnv" (dict "root" $root "prefixes" (list "TRAINER")) | nindent 6 }}
      {{- with $v.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if .metrics }}
    # a long training step must not look dead: check the metrics listener, not a Celery ping
    livenessProbe:
      tcpSocket: {port: metrics}
      initialDelaySeconds: 30
      periodSeconds: 30
      failureThreshold: 5
    {{- end }}
    resources:
      {{- include "agnews.trainerResources" $root | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.containerSecurityContext | nindent 6 }}
    volumeMounts:
      {{- include "agnews.tmpMount" $root | nindent 6 }}
      - {name: work, mountPath: /work}
      # PyTorch DataLoader workers share tensors through /dev/shm
      - {name: dshm, mountPath: /dev/shm}
volumes:
  {{- include "agnews.tmpVolume" $root | nindent 2 }}
  - name: work
    emptyDir:
      sizeLimit: {{ $v.scratchSizeLimit }}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: 2Gi
{{- end }}
