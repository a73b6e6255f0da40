{{- define "helloworld.labels" -}}
{{ toYaml .Values.labels }}
{{- end }}
