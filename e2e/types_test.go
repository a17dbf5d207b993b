package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// resourceConfig renders one [[account]] of any type.
func resourceConfig(r armemu.Resource, path, extra string) string {
	s := fmt.Sprintf("\n[[account]]\ntype = %q\nsubscription_id = %q\nresource_group = %q\nname = %q\npath = %q\n", r.Type, r.Subscription, r.ResourceGroup, r.Name, path)
	if r.Rule != "" {
		s += fmt.Sprintf("rule = %q\n", r.Rule)
	}
	return s + extra
}

// keysyncAccount is r as keysync's own table names it.
func keysyncAccount(r armemu.Resource) sources.Account {
	return sources.Account{SubscriptionID: r.Subscription, ResourceGroup: r.ResourceGroup, Name: r.Name, Type: r.Type, Rule: r.Rule}
}

// TestTypesTableAgreesWithEmulator: keysync's table of resource types
// (sources.Types) and the emulator's (armemu.Types, written separately
// from Azure's REST specs) name the same types, providers, children, keys
// actions and answer fields, and keysync's api-version is the newest the
// emulator accepts. A wrong entry on either side fails here, and end to end in
// TestEveryType.
func TestTypesTableAgreesWithEmulator(t *testing.T) {
	shared(t)
	if got, want := sources.TypeNames(), armemu.TypeNames(); !slices.Equal(got, want) {
		t.Fatalf("keysync reads types %v, the emulator serves %v", got, want)
	}
	for _, name := range sources.TypeNames() {
		t.Run(name, func(t *testing.T) {
			ks, em := sources.Types[name], armemu.Types[name]
			for _, c := range []struct{ what, keysync, emulator string }{
				{"provider", ks.Provider, em.Provider},
				{"child", ks.Child, em.Child},
				{"keys action", ks.Action, em.ListAction},
				{"regenerate action", ks.Regenerate, em.Regenerate.Action},
				{"name field", ks.NameField, em.NameField},
			} {
				if c.keysync != c.emulator {
					t.Errorf("%s: keysync %q, spec %q", c.what, c.keysync, c.emulator)
				}
			}
			if !slices.Contains(em.APIVersions, ks.APIVersion) {
				t.Errorf("api-version: keysync %q, spec accepts %v", ks.APIVersion, em.APIVersions)
			}
			if newest := slices.Max(em.APIVersions); ks.APIVersion != newest {
				t.Errorf("api-version: keysync pins %q, the newest stable the specs define is %q", ks.APIVersion, newest)
			}
			if ks.KeysArray != em.KeysArray {
				t.Errorf("keys array: keysync %t, spec %t", ks.KeysArray, em.KeysArray)
			}
			if !em.KeysArray && !slices.Equal(slices.Sorted(slices.Values(ks.Fields)), slices.Sorted(slices.Values(em.Fields()))) {
				t.Errorf("fields: keysync %v, spec %v", ks.Fields, em.Fields())
			}
		})
	}
}

// TestEveryType: for each resource type keysync reads, the first run
// writes every key field under the response's own name, a regenerated key
// gives one new version with only that key (and the connection string
// built on it) changed, and switching key authentication off gives that
// type's own CloudError, permanently.
func TestEveryType(t *testing.T) {
	shared(t)
	for _, typ := range sources.TypeNames() {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			n := seq.Add(1)
			r := armemu.Resource{Subscription: subscription, ResourceGroup: "rg-types", Type: typ,
				Name: fmt.Sprintf("%s%dx", strings.ToLower(typ[:1])+"res", n)}
			if armemu.Types[typ].Child != "" {
				r.Name, r.Rule = fmt.Sprintf("ns%04dabc", n), "RootManageSharedAccessKey"
			}
			ka := keysyncAccount(r)
			if !ka.Spec().ValidName(r.Name) {
				t.Fatalf("test name %q breaks the %s rules", r.Name, typ)
			}
			truth := emu.Add(r)
			path := fmt.Sprintf("azure/%s/%s", typ, strings.ToLower(r.Name))
			cfg := config("") + resourceConfig(r, path, "")
			run(t, cfg, "--run-now").expect(t, 0)

			got := readV2(t, path)
			if got == nil || got.version != 1 {
				t.Fatalf("first run: %+v", got)
			}
			for f, v := range truth.Keys {
				if got.data[f] != v {
					t.Errorf("field %s does not hold the emulator's key", f)
				}
			}
			if got.meta["resource-id"] != r.ID() || got.meta["api-version"] != ka.Spec().APIVersion {
				t.Errorf("provenance %v, emulator's resource id %s", got.meta, r.ID())
			}
			regenerateOne(t, r, cfg, path, truth)
		})
	}
}

// regenerateOne renews the type's first key and checks the next run writes
// one version with exactly that change.
func regenerateOne(t *testing.T, r armemu.Resource, cfg, path string, truth armemu.Account) {
	t.Helper()
	after, err := emu.Regenerate(r, armemu.Types[r.Type].Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	r2 := run(t, cfg, "--run-now")
	r2.expect(t, 0)
	got := readV2(t, path)
	if got.version != 2 {
		t.Fatalf("version %d after one regenerate", got.version)
	}
	for _, f := range slices.Sorted(maps.Keys(after.Keys)) {
		v := after.Keys[f]
		if got.data[f] != v {
			t.Errorf("after regenerate, %s is stale", f)
		}
		if changed := truth.Keys[f] != v; changed != strings.Contains(r2.stdout, f+":") {
			t.Errorf("report and change disagree for %s (changed %t):\n%s", f, changed, r2.stdout)
		}
	}
}

// TestFieldsSelectAndRename: the fields table writes only the named fields,
// under the names given, beside keysync's data mark.
func TestFieldsSelectAndRename(t *testing.T) {
	shared(t)
	r := armemu.Resource{Subscription: subscription, ResourceGroup: "rg-types", Type: "cosmosdb", Name: fmt.Sprintf("cosmos-%d", seq.Add(1))}
	truth := emu.Add(r)
	path := "azure/cosmos/" + r.Name
	cfg := config("") + resourceConfig(r, path, `fields = { primaryReadonlyMasterKey = "readonly_key" }`+"\n")
	run(t, cfg, "--run-now").expect(t, 0)
	got := readV2(t, path)
	if len(got.data) != 2 || got.data["readonly_key"] != truth.Keys["primaryReadonlyMasterKey"] || got.data["keysync-resource-id"] != strings.ToLower(r.ID()) {
		t.Fatalf("fields: got %v", slices.Sorted(maps.Keys(got.data)))
	}
}

// TestStorageKeyAuthDisabled: a type's own error for disabled keys is
// permanent.
func TestStorageKeyAuthDisabled(t *testing.T) {
	shared(t)
	r := armemu.Resource{Subscription: subscription, ResourceGroup: "rg-types", Type: "storage", Name: fmt.Sprintf("stdisabled%d", seq.Add(1))}
	emu.Add(r)
	if err := emu.SetKeysDisabled(r, true); err != nil {
		t.Fatal(err)
	}
	res := run(t, config("")+resourceConfig(r, "azure/storage/"+r.Name, ""), "--run-now")
	res.expect(t, 1)
	if !strings.Contains(res.stdout, "KeyBasedAuthenticationNotPermitted") || emu.Requests(r) != 1 {
		t.Errorf("want one attempt and the Storage code:\n%s", res.stdout)
	}
}
