package e2e

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
)

// derivedAccount is an emulated account of another type with one derived
// value, and the value Vault must hold given the emulator's keys.
type derivedAccount struct {
	res  armemu.Resource
	path string
	// derived is the [[account.derived]] entry of the field "derived",
	// less its name; extra more entries.
	derived, extra string
	// want is the value expected for the emulator's current keys and the
	// active key's field.
	want func(a armemu.Account, active string) string
}

func (d derivedAccount) toml() string {
	rule := ""
	if d.res.Rule != "" {
		rule = fmt.Sprintf("rule = %q\n", d.res.Rule)
	}
	return fmt.Sprintf("\n[[account]]\ntype = %q\nsubscription_id = %q\nresource_group = %q\nname = %q\n%spath = %q\nrotate_every = \"3s\"\nrotate_grace = \"1s\"\n\n[[account.derived]]\nname = \"derived\"\n%s%s",
		d.res.Type, d.res.Subscription, d.res.ResourceGroup, d.res.Name, rule, d.path, d.derived, d.extra)
}

// TestDerivedConnectionStringsOfEachType: Redis's connection string names
// the cache's own host and TLS port with the active key, and a template
// renders its properties and active key, Cosmos DB's is
// the one listConnectionStrings answers for the active key, Event Hubs'
// is the keys action's own and its SAS is signed for the namespace's host
// with the rule; after a rotation each follows the new active key.
func TestDerivedConnectionStringsOfEachType(t *testing.T) {
	shared(t)
	n := seq.Add(1)
	accts := []derivedAccount{
		{res: armemu.Resource{Type: "redis", Subscription: subscription, ResourceGroup: "rg-e2e", Name: fmt.Sprintf("cache%d", n)},
			derived: "kind = \"redis-connection-string\"\n",
			extra:   "\n[[account.derived]]\nname = \"custom\"\nkind = \"template\"\ntemplate = \"{{.Props.hostName}}|{{.Active}}|{{.Key | base64}}\"\n",
			want: func(a armemu.Account, active string) string {
				return a.Name + ".redis.cache.windows.net:6380,password=" + a.Keys[active] + ",ssl=True,abortConnect=False"
			}},
		{res: armemu.Resource{Type: "cosmosdb", Subscription: subscription, ResourceGroup: "rg-e2e", Name: fmt.Sprintf("cosmos%d", n)},
			derived: "kind = \"cosmosdb-connection-string\"\n",
			want: func(a armemu.Account, active string) string {
				return "AccountEndpoint=https://" + a.Name + ".documents.azure.com:443/;AccountKey=" + a.Keys[active] + ";"
			}},
		{res: armemu.Resource{Type: "eventhubs", Subscription: subscription, ResourceGroup: "rg-e2e", Name: fmt.Sprintf("hubs-ns%d", n), Rule: "send"},
			derived: "kind = \"connection-string\"\n",
			extra:   "\n[[account.derived]]\nname = \"token\"\nkind = \"eventhubs-sas\"\nentity = \"hub1\"\nexpiry = \"1h\"\npath = \"" + fmt.Sprintf("azure/eventhubs/hubs-ns%d-token", n) + "\"\n",
			want: func(a armemu.Account, active string) string {
				return a.Keys[strings.TrimSuffix(active, "Key")+"ConnectionString"]
			}},
	}
	cfg := config("")
	for i := range accts {
		accts[i].path = fmt.Sprintf("azure/%s/%s", accts[i].res.Type, accts[i].res.Name)
		emu.Add(accts[i].res)
		cfg += accts[i].toml()
	}
	run(t, cfg, "--run-now").expect(t, 0)
	check := func(when string) {
		t.Helper()
		for _, d := range accts {
			a, _ := emu.Get(d.res)
			active := activeOf(t, account{path: d.path})
			if got, _ := fieldOf(t, d.path, "derived").(string); got != d.want(a, active) {
				t.Fatalf("%s: %s: the derived value is not the %s key's", when, d.res.Type, active)
			}
		}
		redis, _ := emu.Get(accts[0].res)
		active := activeOf(t, account{path: accts[0].path})
		if got, _ := fieldOf(t, accts[0].path, "custom").(string); got != redis.Name+".redis.cache.windows.net|"+active+"|"+base64.StdEncoding.EncodeToString([]byte(redis.Keys[active])) {
			t.Fatalf("%s: the template's value is not the %s key's", when, active)
		}
		token, _ := fieldOf(t, accts[2].path+"-token", "token").(string)
		q, err := url.ParseQuery(strings.TrimPrefix(token, "SharedAccessSignature "))
		if err != nil || q.Get("sr") != "https://"+accts[2].res.Name+".servicebus.windows.net/hub1" || q.Get("skn") != "send" || q.Get("sig") == "" {
			t.Fatalf("%s: the Event Hubs SAS is not for the namespace's hub1 with rule send: %v", when, err)
		}
	}
	check("first sync")
	// Each of the three is due: a dry run plans all three regenerates.
	eventually(t, waitFloor, func() (bool, string) {
		r := run(t, cfg, "--dry-run")
		return strings.Count(r.stdout, "rotate: regenerate secondary") == len(accts), "a dry run planning three regenerates:\n" + r.stdout
	})
	run(t, cfg, "--run-now").expect(t, 0)
	check("after the rotation")
	for _, d := range accts {
		if got := activeOf(t, account{path: d.path}); !strings.HasPrefix(got, "secondary") {
			t.Fatalf("%s: active %q after the rotation", d.res.Type, got)
		}
	}
}

// TestDerivedFromDiscovery: a [[discover]] block's derived values are
// made for every account it finds, each with its own account's key, at
// the account's templated path.
func TestDerivedFromDiscovery(t *testing.T) {
	shared(t)
	e := estate{sub: fmt.Sprintf("dddddddd-0000-0000-0000-%012d", seq.Add(1)), prefix: fmt.Sprintf("disc%d", seq.Add(1)), identity: ownIdentity()}
	var found []armemu.Resource
	for range 3 {
		r := armemu.Resource{Type: "redis", Subscription: e.sub, ResourceGroup: "rg-disc", Name: fmt.Sprintf("cache%d", seq.Add(1))}
		emu.Add(r)
		must(t, emu.SetTags(r, map[string]string{"keysync": "true"}))
		found = append(found, r)
	}
	cfg := withClientID(config("")+fmt.Sprintf(`
[[discover]]
name = "caches"
type = "redis"
subscriptions = [%q]
tags = { keysync = "true" }
path = "%s/{name}"

[[discover.derived]]
name = "connection-string"
kind = "redis-connection-string"
`, e.sub, e.prefix), e.identity)
	run(t, cfg, "--run-now").expect(t, 0)
	for _, r := range found {
		a, _ := emu.Get(r)
		want := r.Name + ".redis.cache.windows.net:6380,password=" + a.Keys["primaryKey"] + ",ssl=True,abortConnect=False"
		if got, _ := fieldOf(t, e.prefix+"/"+r.Name, "connection-string").(string); got != want {
			t.Fatalf("%s: the connection string is not its own primary key's", r.Name)
		}
	}
}
