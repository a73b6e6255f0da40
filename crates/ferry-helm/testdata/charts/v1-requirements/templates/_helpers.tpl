{{- define "legacy.name" -}}{{ .Chart.Name }}-app{{- end -}}
