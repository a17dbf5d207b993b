package derive

import (
	"strings"
	"testing"

	"github.com/keysync/keysync/sync/derive/spec"
)

func TestTemplate(t *testing.T) {
	in := storageInput("key2")
	in.ResourceGroup = "rg1"
	tests := []struct {
		name, text, want string // want: "" for an error
	}{
		{"the active key and properties", `{{.Name}}|{{.ResourceGroup}}|{{.Active}}|{{.Props.blob}}|{{eq .Key (index .Keys "key2")}}`,
			"acct|rg1|key2|https://acct.blob.core.windows.net/|true"},
		{"a missing property", `{{.Props.nothing}}`, ""},
		{"an output past the bound", `{{range .Keys}}` + strings.Repeat("{{.}}", 200) + `{{end}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Derive(spec.Spec{Name: "t", Kind: spec.Template, Template: tt.text}, in, nil, t0)
			switch {
			case tt.want == "" && err == nil:
				t.Fatal("rendered")
			case tt.want == "" && strings.Contains(err.Error(), key2[:16]):
				t.Fatal("the error quotes the key")
			case tt.want != "" && (err != nil || r.Value.Reveal() != tt.want):
				t.Fatalf("not the expected value: %v", err)
			}
		})
	}
}
