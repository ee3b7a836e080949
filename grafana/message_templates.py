r"""Notification templates that fit each channel's limits, whatever the group size.

A group can hold any number of alerts (40 agents dying in the same minute), and Telegram
rejects a message over 4,096 characters or with broken HTML, Discord one over 2,000
characters. So every template lists a bounded number of alerts, cuts each label and
annotation to a fixed number of characters (runes, so a UTF-8 sequence is never split),
escapes what its format gives meaning to, and says how many alerts it left out.

Worst cases, every value at its cut length and every character escaped: Telegram lists 6
alerts of at most 540 characters after entity parsing (about 3,400 in all); Discord lists
4 alerts of at most 420 characters including the markdown backslashes (about 1,850).

The helpers take one value each ({{ template "clevagent.telegram.short" $value }}), because
a Go template cannot pass the output of a template into a function.
"""

import re

TEMPLATE_NAME = "clevagent"

_TEMPLATE_SOURCE = r"""{{ define "clevagent.heading" -}}
{{ if .Alerts.Firing }}FIRING {{ len .Alerts.Firing }}{{ end }}
{{- if and .Alerts.Firing .Alerts.Resolved }}, {{ end }}
{{- if .Alerts.Resolved }}RESOLVED {{ len .Alerts.Resolved }}{{ end }}
{{- end }}

{{ define "clevagent.cut60" }}{{ reReplaceAll "(?s)^(.{0,60}).*$" "$1" . }}{{ end }}

{{ define "clevagent.title" -}}
[{{ template "clevagent.heading" . }}] ClevAgent
{{- with .GroupLabels.project }} {{ template "clevagent.cut60" . }}{{ end }}
{{- with .GroupLabels.agent }}/{{ template "clevagent.cut60" . }}{{ end }}
{{- end }}

{{ define "clevagent.mark" }}{{ if eq .Status "firing" }}🔴{{ else }}✅{{ end }}{{ end }}

{{ define "clevagent.telegram.short" }}\
    {{ html (reReplaceAll "(?s)^(.{0,40}).*$" "$1" .) }}{{ end }}
{{ define "clevagent.telegram.long" }}\
    {{ html (reReplaceAll "(?s)^(.{0,200}).*$" "$1" .) }}{{ end }}

{{ define "clevagent.telegram.message" -}}
<b>[{{ template "clevagent.heading" . }}]</b> ClevAgent
{{- range $i, $alert := .Alerts }}{{ if lt $i 6 }}
{{ template "clevagent.mark" $alert }} \
    <b>{{ template "clevagent.telegram.short" (index $alert.Labels "alertname") }}\
    </b> {{ template "clevagent.telegram.short" (index $alert.Labels "project") }}\
    /{{ template "clevagent.telegram.short" (index $alert.Labels "agent") }}
{{ template "clevagent.telegram.long" (index $alert.Annotations "summary") }}
{{ template "clevagent.telegram.long" (index $alert.Annotations "agent_dashboard") }}
{{- end }}{{ end }}
{{- if gt (len .Alerts) 6 }}
{{ len .Alerts }} alerts in this group, the first 6 shown. Grafana lists them all.
{{- end }}
{{- end }}

{{ define "clevagent.discord.escape" }}\
    {{ reReplaceAll "@" "@\u200b" (reReplaceAll "([\\\\*_~`|>\\[\\]])" "\\$1" .) }}{{ end }}
{{ define "clevagent.discord.short" }}\
    {{ template "clevagent.discord.escape" (reReplaceAll "(?s)^(.{0,32}).*$" "$1" .) }}\
    {{ end }}
{{ define "clevagent.discord.long" }}\
    {{ template "clevagent.discord.escape" (reReplaceAll "(?s)^(.{0,100}).*$" "$1" .) }}\
    {{ end }}

{{ define "clevagent.discord.message" -}}
**[{{ template "clevagent.heading" . }}]** ClevAgent
{{- range $i, $alert := .Alerts }}{{ if lt $i 4 }}
{{ template "clevagent.mark" $alert }} \
    **{{ template "clevagent.discord.short" (index $alert.Labels "alertname") }}\
    ** {{ template "clevagent.discord.short" (index $alert.Labels "project") }}\
    /{{ template "clevagent.discord.short" (index $alert.Labels "agent") }}
{{ template "clevagent.discord.long" (index $alert.Annotations "summary") }}
{{- end }}{{ end }}
{{- if gt (len .Alerts) 4 }}
{{ len .Alerts }} alerts in this group, the first 4 shown. Grafana lists them all.
{{- end }}
{{- end }}

{{ define "clevagent.slack.escape" }}\
    {{ reReplaceAll ">" "&gt;" (reReplaceAll "<" "&lt;" (reReplaceAll "&" "&amp;" .)) }}\
    {{ end }}
{{ define "clevagent.slack.short" }}\
    {{ template "clevagent.slack.escape" (reReplaceAll "(?s)^(.{0,60}).*$" "$1" .) }}{{ end }}
{{ define "clevagent.slack.long" }}\
    {{ template "clevagent.slack.escape" (reReplaceAll "(?s)^(.{0,300}).*$" "$1" .) }}\
    {{ end }}

{{ define "clevagent.slack.message" -}}
{{- range $i, $alert := .Alerts }}{{ if lt $i 10 }}
{{ template "clevagent.mark" $alert }} \
    *{{ template "clevagent.slack.short" (index $alert.Labels "alertname") }}\
    * {{ template "clevagent.slack.short" (index $alert.Labels "project") }}\
    /{{ template "clevagent.slack.short" (index $alert.Labels "agent") }}
{{ template "clevagent.slack.long" (index $alert.Annotations "summary") }}
{{ template "clevagent.slack.long" (index $alert.Annotations "agent_dashboard") }}
{{- end }}{{ end }}
{{- if gt (len .Alerts) 10 }}
{{ len .Alerts }} alerts in this group, the first 10 shown. Grafana lists them all.
{{- end }}
{{- end }}

{{ define "clevagent.email.message" -}}
{{- range $i, $alert := .Alerts }}{{ if lt $i 50 }}
[{{ $alert.Status }}] {{ index $alert.Labels "alertname" }} \
    {{ index $alert.Labels "project" }}/{{ index $alert.Labels "agent" }}
{{ index $alert.Annotations "summary" }}
{{ index $alert.Annotations "agent_dashboard" }}
{{- end }}{{ end }}
{{- if gt (len .Alerts) 50 }}
{{ len .Alerts }} alerts in this group, the first 50 shown. Grafana lists them all.
{{- end }}
{{- end }}
"""


# A backslash at the end of a line joins it to the next; the indentation that follows is
# dropped. It keeps the source readable without changing what Grafana renders.
TEMPLATE = re.sub(r"\\\n *", "", _TEMPLATE_SOURCE)


def templates_file() -> dict[str, object]:
    template = {"orgId": 1, "name": TEMPLATE_NAME, "template": TEMPLATE}
    return {"apiVersion": 1, "templates": [template]}
