package azure

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// TestDiscoverStorageEndpoints: a Storage account found by Resource Graph
// carries the endpoints its GET answers (the cloud's, or those set on the
// account), checked as the GET's are: a row whose endpoints the GET's
// check refuses (a user in the URL, another scheme, no blob, not an
// object) is still found, without endpoints, so the account's GET judges
// its own answer.
func TestDiscoverStorageEndpoints(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	set := map[string]map[string]string{
		"zoned":  {"blob": "https://zoned.z07.blob.storage.azure.net/", "table": "https://zoned.z07.table.storage.azure.net/"},
		"user":   {"blob": "https://me:pw@user.blob.core.windows.net/"},
		"scheme": {"blob": "javascript://user.blob.core.windows.net/"},
		"noblob": {"queue": "https://noblob.queue.core.windows.net/"},
	}
	for _, name := range []string{"plain", "zoned", "user", "scheme", "noblob"} {
		addTagged(t, "storage", sub, "rg", name, map[string]string{"keysync": "true"})
		if e, ok := set[name]; ok {
			if err := emu.SetEndpoints(armemu.Resource{Type: "storage", Subscription: sub, ResourceGroup: "rg", Name: name}, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	found, skipped, err := s.Discover(context.Background(), sources.Selector{Type: "storage", Subscriptions: []string{sub},
		Tags: []sources.TagMatch{{Key: "keysync", Value: "true"}}}, config.DiscoveryResourceGraph)
	if err != nil || len(skipped) != 0 || names(found) != "noblob,plain,scheme,user,zoned" {
		t.Fatalf("found %s, skipped %v: %v", names(found), skipped, err)
	}
	for _, f := range found {
		got, getErr := s.Properties(context.Background(), f.Account)
		switch f.Account.Name {
		case "plain", "zoned":
			if f.Props == nil || !maps.Equal(f.Props, got) || getErr != nil {
				t.Errorf("%s: discovery gave %v, the GET %v (%v)", f.Account.Name, f.Props, got, getErr)
			}
		default:
			if f.Props != nil || getErr == nil {
				t.Errorf("%s: discovery gave %v and the GET refused nothing", f.Account.Name, f.Props)
			}
		}
	}
	if want := "https://plain.blob.core.windows.net/"; found[1].Props["blob"] != want {
		t.Errorf("plain blob %q, want %q", found[1].Props["blob"], want)
	}
}

// TestDiscoverEndpointsNotAnObject: a row whose primaryEndpoints is not an
// object is found without endpoints, never skipped for them.
func TestDiscoverEndpointsNotAnObject(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	id := "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/odd"
	for _, v := range []string{`"https://odd.blob.core.windows.net/"`, `["x"]`, `{"blob":7}`, `null`} {
		body := `{"count":1,"totalRecords":1,"resultTruncated":"false","data":[{"id":"` + id + `","primaryEndpoints":` + v + `}]}`
		emu.InjectGraphFault(armemu.Fault{Kind: armemu.FaultRaw, Body: body, Times: 1})
		found, skipped, err := s.Discover(context.Background(), sources.Selector{Type: "storage", Subscriptions: []string{sub}}, config.DiscoveryResourceGraph)
		if err != nil || len(skipped) != 0 || len(found) != 1 || found[0].Props != nil {
			t.Errorf("endpoints %s: found %+v, skipped %v: %v", v, found, skipped, err)
		}
	}
}

// TestQueryProjectsEndpoints: a Storage query projects the endpoints, by
// dot, and no other type's does.
func TestQueryProjectsEndpoints(t *testing.T) {
	q := query(sources.Selector{Type: "storage"})
	if !strings.Contains(q, "| extend primaryEndpoints = properties.primaryEndpoints\n| project id, name, type, subscriptionId, resourceGroup, primaryEndpoints\n") {
		t.Fatalf("storage query:\n%s", q)
	}
	for name := range sources.Types {
		if q := query(sources.Selector{Type: name}); name != "storage" && strings.Contains(q, "properties") {
			t.Errorf("%s query reads properties:\n%s", name, q)
		}
	}
}
