package spec

import (
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name, text, want string // want: "" for accepted, else part of the error
	}{
		{"fields and functions", `Server={{.Name}}.example;Password={{.Key | base64}};{{if eq .Active "key1"}}one{{else}}two{{end}}`, ""},
		{"range over keys", `{{range $k, $v := .Keys}}{{$k}};{{end}}`, ""},
		{"call", `{{call .Key}}`, `calls "call"`},
		{"print", `{{print .Keys}}`, `calls "print"`},
		{"a named template", `{{define "x"}}{{.Key}}{{end}}{{template "x" .}}`, `calls "template x"`},
		{"does not parse", `{{.Name`, "does not parse"},
		{"empty", ``, "must be 1-4096 bytes"},
		{"too long", strings.Repeat("x", MaxTemplateLen+1), "must be 1-4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTemplate(tt.text)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
}
