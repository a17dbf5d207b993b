package sources

import (
	"strings"
	"testing"
)

func TestPathTemplate(t *testing.T) {
	a := Account{SubscriptionID: "AAAAAAAA-2222-3333-4444-555555555555", ResourceGroup: "Prod-RG", Name: "acct1", Type: "Storage"}
	tests := []struct {
		tmpl, want, err string
	}{
		{"azure/{type}/{subscription}/{resource_group}/{name}", "azure/storage/aaaaaaaa-2222-3333-4444-555555555555/Prod-RG/acct1", ""},
		{"keys/{name}", "keys/acct1", ""},
		{"keys/{nam}", "", "unknown variable {nam}"},
		{"keys/{name", "", "unbalanced brace"},
		{"keys/{type}", "", "must contain {name}"},
	}
	for _, tt := range tests {
		err := CheckPathTemplate(tt.tmpl)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Fatalf("CheckPathTemplate(%q) = %v, want %q", tt.tmpl, err, tt.err)
		}
		if err == nil {
			if got, err := ExpandPath(tt.tmpl, a); got != tt.want || err != nil {
				t.Errorf("ExpandPath(%q) = %q, %v, want %q", tt.tmpl, got, err, tt.want)
			}
		}
	}
}

// TestExpandPathRefusesOtherLevels: a value that is not one path segment
// never reaches a path, whichever variable carries it.
func TestExpandPathRefusesOtherLevels(t *testing.T) {
	for _, a := range []Account{
		{SubscriptionID: "s", ResourceGroup: "team-b/prod", Name: "acct1"},
		{SubscriptionID: "s", ResourceGroup: "..", Name: "acct1"},
		{SubscriptionID: "s", ResourceGroup: "rg", Name: "."},
		{SubscriptionID: "s", ResourceGroup: "rg", Name: "acct1", Rule: "a/b"},
	} {
		if got, err := ExpandPath("azure/{resource_group}/{name}/{rule}", a); err == nil {
			t.Errorf("%+v gave %q", a, got)
		}
	}
}
