package config

import (
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
)

func TestDiscoverBlocks(t *testing.T) {
	cfg, err := Parse(`
[[discover]]
name = "batch-prod"
subscriptions = ["11111111-2222-3333-4444-555555555555"]
resource_groups = ["rg-a"]
tags = { keysync = "true" }
has_tags = ["owner"]
not_tags = { env = "dev" }
lacks_tags = ["legacy"]
copy_tags = ["owner"]
path = "azure/{type}/{subscription}/{resource_group}/{name}"
on_removed = "mark"
rotate_every = "720h"

[[discover]]
type = "eventhubs"
rule = "RootManageSharedAccessKey"
path = "/eh/{name}/{rule}/"
discovery = "arm-list"
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Accounts) != 0 || len(cfg.Discover) != 2 || cfg.DiscoverEvery.Hours() != 1 || cfg.MaxRemovedFraction != 0.2 || cfg.Discovery != DiscoveryResourceGraph {
		t.Fatalf("%+v", cfg)
	}
	sel := cfg.Discover[0].Selector()
	want := []sources.TagMatch{{Key: "keysync", Value: "true"}, {Key: "env", Op: sources.TagNotEquals, Value: "dev"},
		{Key: "owner", Op: sources.TagPresent}, {Key: "legacy", Op: sources.TagAbsent}}
	if sel.Type != "batch" || len(sel.Tags) != len(want) || sel.KeepTags[0] != "owner" || sel.ResourceGroups[0] != "rg-a" {
		t.Fatalf("selector %+v", sel)
	}
	for i, m := range want {
		if sel.Tags[i] != m {
			t.Errorf("tag %d = %+v, want %+v", i, sel.Tags[i], m)
		}
	}
	if cfg.Discover[0].BlockName(0) != "batch-prod" || cfg.Discover[1].BlockName(1) != "discover[1]" {
		t.Fatal("block names")
	}
	if cfg.Discover[1].Engine(cfg.Discovery) != DiscoveryARMList || cfg.Discover[0].Engine(cfg.Discovery) != DiscoveryResourceGraph {
		t.Fatal("engines")
	}
	if cfg.Discover[1].Path != "eh/{name}/{rule}" {
		t.Fatalf("template path %q keeps its outer slashes: a recall would match no path Vault lists", cfg.Discover[1].Path)
	}
	if d := cfg.Discover[0]; d.RotateEvery.Hours() != 720 {
		t.Fatalf("settings %+v", d.Settings)
	}
}

func TestCheckVaultPath(t *testing.T) {
	for path, ok := range map[string]bool{"azure/batch/acct1": true, "azure/../x": false, "a//b": false, "a b": false, strings.Repeat("p", 900): false} {
		if err := CheckVaultPath("secret", path); (err == nil) != ok {
			t.Errorf("CheckVaultPath(%.20q) = %v, want ok %t", path, err, ok)
		}
	}
}
