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
			if got := ExpandPath(tt.tmpl, a); got != tt.want {
				t.Errorf("ExpandPath(%q) = %q, want %q", tt.tmpl, got, tt.want)
			}
		}
	}
}
