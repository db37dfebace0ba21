{{/* One image, two roles. */}}
{{- define "ferrolb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* What workloads select their pods by (plus app.kubernetes.io/component). Selectors are immutable:
     nothing here may change between releases. */}}
{{- define "ferrolb.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "ferrolb.labels" -}}
{{ include "ferrolb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Which Services and resources are ferrolb's. The controller and the agents must be given the same:
     an agent that does not serve a class the controller allocates for would never announce it. */}}
{{- define "ferrolb.clusterArgs" -}}
- --lb-class={{ .Values.controller.loadBalancerClass }}
{{- if .Values.controller.defaultClass }}
- --default-class
{{- end }}
{{- if .Values.controller.loxilbCompat }}
- --loxilb-compat
{{- end }}
{{- if .Values.controller.metallbCompat }}
- --metallb-compat
{{- end }}
{{- with .Values.controller.secondaryPools }}
- --secondary-pools={{ join "," . }}
{{- end }}
{{- end -}}
