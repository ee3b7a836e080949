// Render a Grafana notification template the way Grafana's Alertmanager does: Go's
// text/template with the Alertmanager functions the ClevAgent templates use, over the
// notification data (.Alerts with .Firing and .Resolved, .GroupLabels, ...).
//
// Usage: render < request.json, where request is {"template", "name", "data"}.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
)

type KV map[string]string

type Alert struct {
	Status       string `json:"status"`
	Labels       KV     `json:"labels"`
	Annotations  KV     `json:"annotations"`
	GeneratorURL string `json:"generatorURL"`
}

type Alerts []Alert

func (as Alerts) Firing() []Alert   { return as.withStatus("firing") }
func (as Alerts) Resolved() []Alert { return as.withStatus("resolved") }

func (as Alerts) withStatus(status string) []Alert {
	res := []Alert{}
	for _, a := range as {
		if a.Status == status {
			res = append(res, a)
		}
	}
	return res
}

type Data struct {
	Receiver          string `json:"receiver"`
	Status            string `json:"status"`
	Alerts            Alerts `json:"alerts"`
	GroupLabels       KV     `json:"groupLabels"`
	CommonLabels      KV     `json:"commonLabels"`
	CommonAnnotations KV     `json:"commonAnnotations"`
	ExternalURL       string `json:"externalURL"`
}

type Request struct {
	Template string `json:"template"`
	Name     string `json:"name"`
	Data     Data   `json:"data"`
}

// The subset of Alertmanager's template functions (template/template.go) the templates use.
var funcs = template.FuncMap{
	"toUpper": strings.ToUpper,
	"toLower": strings.ToLower,
	"join":    func(sep string, s []string) string { return strings.Join(s, sep) },
	"reReplaceAll": func(pattern, repl, text string) string {
		return regexp.MustCompile(pattern).ReplaceAllString(text, repl)
	},
}

func main() {
	var request Request
	if err := json.NewDecoder(os.Stdin).Decode(&request); err != nil {
		fmt.Fprintln(os.Stderr, "invalid request:", err)
		os.Exit(2)
	}
	tmpl, err := template.New("root").Option("missingkey=zero").Funcs(funcs).Parse(request.Template)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parse:", err)
		os.Exit(1)
	}
	if err := tmpl.ExecuteTemplate(os.Stdout, request.Name, request.Data); err != nil {
		fmt.Fprintln(os.Stderr, "execute:", err)
		os.Exit(1)
	}
}
