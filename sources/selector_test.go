package sources

import (
	"fmt"
	"strings"
	"testing"
)

const subA = "11111111-2222-3333-4444-555555555555"

func TestSelectorValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Selector
		want string // "" for valid
	}{
		{"batch in one subscription", Selector{Type: "batch", Subscriptions: []string{subA}}, ""},
		{"every subscription, tags", Selector{Type: "storage", Tags: []TagMatch{{Key: "keysync", Value: "true"}, {Key: "owner", Op: TagPresent}}}, ""},
		{"unknown type", Selector{Type: "vm"}, `type must be one of`},
		{"both scopes", Selector{Type: "batch", Subscriptions: []string{subA}, ManagementGroup: "mg"}, "exclude each other"},
		{"not a guid", Selector{Type: "batch", Subscriptions: []string{"prod"}}, `"prod" is not a subscription id`},
		{"bad group", Selector{Type: "batch", ResourceGroups: []string{"rg."}}, "is not a valid name"},
		{"bad management group", Selector{Type: "batch", ManagementGroup: "a b"}, "not a management group id"},
		{"tag name with slash", Selector{Type: "batch", Tags: []TagMatch{{Key: "a/b", Value: "x"}}}, "refuses in tag names"},
		{"control character", Selector{Type: "batch", Tags: []TagMatch{{Key: "k", Value: "a\nb"}}}, "control character"},
		{"empty value", Selector{Type: "batch", Tags: []TagMatch{{Key: "k"}}}, "empty value never matches"},
		{"long value", Selector{Type: "batch", Tags: []TagMatch{{Key: "k", Value: strings.Repeat("v", 257)}}}, "longer than 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMatchTags(t *testing.T) {
	s := Selector{Type: "batch", Tags: []TagMatch{{Key: "keysync", Value: "TRUE"}, {Key: "env", Op: TagNotEquals, Value: "prod"}, {Key: "legacy", Op: TagAbsent}}}
	tests := []struct {
		tags map[string]string
		want bool
	}{
		{map[string]string{"keysync": "true"}, true},
		{map[string]string{"keysync": "true", "env": "dev"}, true},
		{map[string]string{"keysync": "true", "env": "Prod"}, false},
		{map[string]string{"keysync": "true", "legacy": "yes"}, false},
		{map[string]string{"keysync": "false"}, false},
		{nil, false},
		// ARM's tag names compare without case (issue #22).
		{map[string]string{"Keysync": "True", "ENV": "dev"}, true},
		{map[string]string{"KEYSYNC": "true", "Env": "PROD"}, false},
		{map[string]string{"keysync": "true", "Legacy": "yes"}, false},
		// One tag under two cases: one value is one tag, two cannot be.
		{map[string]string{"keysync": "true", "KeySync": "true"}, true},
		{map[string]string{"keysync": "true", "KeySync": "false"}, false},
	}
	for _, tt := range tests {
		if got := s.MatchTags(tt.tags); got != tt.want {
			t.Errorf("MatchTags(%v) = %t, want %t", tt.tags, got, tt.want)
		}
	}
}

func TestFoldTags(t *testing.T) {
	for _, tt := range []struct {
		tags        map[string]string
		want, clash string
	}{
		{map[string]string{"Owner": "A", "env": "x"}, "map[env:x owner:A]", ""},
		{map[string]string{"Owner": "A", "OWNER": "A"}, "map[owner:A]", ""},
		{map[string]string{"Owner": "A", "owner": "a"}, "map[]", "owner"},
		{nil, "map[]", ""},
	} {
		folded, clash := FoldTags(tt.tags)
		if fmt.Sprint(folded) != tt.want || strings.ToLower(clash) != tt.clash {
			t.Errorf("FoldTags(%v) = %v, %q; want %s, %q", tt.tags, folded, clash, tt.want, tt.clash)
		}
	}
}
