{{- define "errors.deep" -}}
value={{ .Values.absent.child }}
{{- end -}}
{{- define "errors.outer" -}}
{{ include "errors.deep" . }}
{{- end -}}
