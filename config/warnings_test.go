package config

import (
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
)

const sub1, sub2 = "11111111-2222-3333-4444-555555555555", "22222222-2222-3333-4444-555555555555"

// TestWarnings: a template that cannot tell apart two resources Azure lets
// share a name in the block's scope is warned about, never refused.
func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  string
	}{
		{"batch without {resource_group}", `type = "batch"
subscriptions = ["` + sub1 + `"]
path = "azure/{type}/{name}"`, "discover[0].path: batch names are unique only within a region, and the block may find two of one name: a template without {resource_group} gives"},
		{"batch across subscriptions without {subscription}", `subscriptions = ["` + sub1 + `", "` + sub2 + `"]
path = "azure/{type}/{resource_group}/{name}"`, "without {subscription}"},
		{"a management group", `management_group = "mg"
path = "azure/{name}"`, "without {resource_group} and {subscription}"},
		{"no scope at all", `type = "cognitive"
path = "azure/{resource_group}/{name}"`, "cognitive names are unique only within a resource group"},
		{"maps in one resource group of one subscription", `type = "maps"
subscriptions = ["` + sub1 + `"]
resource_groups = ["rg"]
path = "azure/{name}"`, ""},
		{"batch with both", `path = "azure/{subscription}/{resource_group}/{name}"`, ""},
		{"two variables in one segment", `type = "storage"
path = "azure/{resource_group}-{name}"`, `discover[0].path: segment "{resource_group}-{name}" holds two variables`},
		{"storage names are global", `type = "storage"
path = "azure/{name}"`, ""},
		{"search names are global", `type = "search"
path = "azure/{name}"`, ""},
		{"two rules of eventhubs without {rule}", `type = "eventhubs"
rule = "send"
path = "eh/{name}"

[[discover]]
type = "eventhubs"
rule = "listen"
path = "eh/{name}/{rule}"`, "discover[0].path: discover[1] reads another rule of eventhubs namespaces"},
		{"one rule of eventhubs", `type = "eventhubs"
rule = "send"
path = "eh/{name}"`, ""},
		{"a derived path without {resource_group}", `type = "cognitive"
subscriptions = ["` + sub1 + `"]
path = "azure/{resource_group}/{name}"

[[discover.derived]]
name = "t"
kind = "template"
template = "x"
path = "apps/{name}"`, "discover[0].derived[0].path: cognitive names are unique only within a resource group"},
		{"a derived path with two variables in one segment", `type = "storage"
path = "azure/{name}"

[[discover.derived]]
name = "cs"
kind = "storage-connection-string"
path = "apps/{resource_group}-{name}"`, `discover[0].derived[0].path: segment "{resource_group}-{name}" holds two variables`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("[[discover]]\n" + tt.block + "\n")
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Warnings()
			if tt.want == "" && len(got) != 0 || tt.want != "" && (len(got) != 1 || !strings.Contains(got.Error(), tt.want)) {
				t.Fatalf("warnings:\n%v\nwant %q", got, tt.want)
			}
		})
	}
}

// TestNameScopesCoverEveryType: every type has its scope in the table.
func TestNameScopesCoverEveryType(t *testing.T) {
	for typ := range sources.Types {
		if _, ok := nameScopes[typ]; !ok {
			t.Errorf("type %s has no name scope", typ)
		}
	}
}
