package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
)

// resourceConfig renders one [[account]] of any type.
func resourceConfig(r sources.Account, path, extra string) string {
	s := fmt.Sprintf("\n[[account]]\ntype = %q\nsubscription_id = %q\nresource_group = %q\nname = %q\npath = %q\n", r.Type, r.SubscriptionID, r.ResourceGroup, r.Name, path)
	if r.Rule != "" {
		s += fmt.Sprintf("rule = %q\n", r.Rule)
	}
	return s + extra
}

// TestEveryType: for each resource type keysync reads, the first run
// writes every key field under the response's own name, a regenerated key
// gives one new version with only that key (and the connection string
// built on it) changed, and switching key authentication off gives that
// type's own CloudError, permanently.
func TestEveryType(t *testing.T) {
	for _, typ := range sources.TypeNames() {
		t.Run(typ, func(t *testing.T) {
			n := seq.Add(1)
			r := sources.Account{SubscriptionID: subscription, ResourceGroup: "rg-types", Type: typ,
				Name: fmt.Sprintf("%s%dx", strings.ToLower(typ[:1])+"res", n)}
			if r.Kind().Child != "" {
				r.Name, r.Rule = fmt.Sprintf("ns%04dabc", n), "RootManageSharedAccessKey"
			}
			if !r.Kind().ValidName(r.Name) {
				t.Fatalf("test name %q breaks the %s rules", r.Name, typ)
			}
			emu.AddResource(r)
			path := fmt.Sprintf("azure/%s/%s", typ, strings.ToLower(r.Name))
			cfg := config("") + resourceConfig(r, path, "")
			run(t, cfg, "--run-now").expect(t, 0)

			truth, _ := emu.GetResource(r)
			got := readV2(t, path)
			if got == nil || got.version != 1 {
				t.Fatalf("first run: %+v", got)
			}
			for f, v := range truth.Keys {
				if got.data[f] != v {
					t.Errorf("field %s does not hold the emulator's key", f)
				}
			}
			if got.meta["resource-id"] != r.ResourceID() || got.meta["api-version"] != r.Kind().APIVersion {
				t.Errorf("provenance %v", got.meta)
			}

			keyField := slices.Sorted(maps.Keys(truth.Keys))[0]
			if strings.HasSuffix(keyField, "ConnectionString") {
				keyField = strings.TrimSuffix(keyField, "ConnectionString") + "Key"
			}
			if _, err := emu.RegenerateField(r, keyField); err != nil {
				t.Fatal(err)
			}
			r2 := run(t, cfg, "--run-now")
			r2.expect(t, 0)
			after, _ := emu.GetResource(r)
			got = readV2(t, path)
			if got.version != 2 {
				t.Fatalf("version %d after one regenerate", got.version)
			}
			for f, v := range after.Keys {
				if got.data[f] != v {
					t.Errorf("after regenerate, %s is stale", f)
				}
				if changed := truth.Keys[f] != v; changed != strings.Contains(r2.stdout, f+":") {
					t.Errorf("report and change disagree for %s (changed %t):\n%s", f, changed, r2.stdout)
				}
			}
		})
	}
}

// TestFieldsSelectAndRename: the fields table writes only the named fields,
// under the names given.
func TestFieldsSelectAndRename(t *testing.T) {
	r := sources.Account{SubscriptionID: subscription, ResourceGroup: "rg-types", Type: "cosmosdb", Name: fmt.Sprintf("cosmos-%d", seq.Add(1))}
	emu.AddResource(r)
	path := "azure/cosmos/" + r.Name
	cfg := config("") + resourceConfig(r, path, `fields = { primaryReadonlyMasterKey = "readonly_key" }`+"\n")
	run(t, cfg, "--run-now").expect(t, 0)
	truth, _ := emu.GetResource(r)
	got := readV2(t, path)
	if len(got.data) != 1 || got.data["readonly_key"] != truth.Keys["primaryReadonlyMasterKey"] {
		t.Fatalf("fields: got %v", slices.Sorted(maps.Keys(got.data)))
	}
}

// TestStorageKeyAuthDisabled: a type's own error for disabled keys is
// permanent.
func TestStorageKeyAuthDisabled(t *testing.T) {
	r := sources.Account{SubscriptionID: subscription, ResourceGroup: "rg-types", Type: "storage", Name: fmt.Sprintf("stdisabled%d", seq.Add(1))}
	emu.AddResource(r)
	if err := emu.SetKeysDisabled(r, true); err != nil {
		t.Fatal(err)
	}
	res := run(t, config("")+resourceConfig(r, "azure/storage/"+r.Name, ""), "--run-now")
	res.expect(t, 1)
	if !strings.Contains(res.stdout, "KeyBasedAuthenticationNotPermitted") || emu.ResourceRequests(r) != 1 {
		t.Errorf("want one attempt and the Storage code:\n%s", res.stdout)
	}
}
