package runner

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/discovery"
)

// TestPropCache: an entry holds for less than PropsTTL, only with the
// keys it was read with, never for a clock gone back; forget drops it,
// and a full cache starts over rather than grow.
func TestPropCache(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k1, k2 := keysDigest(secret.Fields{"key1": secret.New("a")}), keysDigest(secret.Fields{"key1": secret.New("b")})
	var c propCache
	c.put("id", propEntry{props: map[string]string{"blob": "https://x/"}, keys: k1, at: t0})
	for _, tt := range []struct {
		name string
		keys [16]byte
		at   time.Time
		hit  bool
	}{
		{"same keys, fresh", k1, t0.Add(PropsTTL - time.Second), true},
		{"other keys", k2, t0, false},
		{"TTL over", k1, t0.Add(PropsTTL), false},
		{"clock went back", k1, t0.Add(-time.Second), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, hit := c.get("id", tt.keys, tt.at); hit != tt.hit {
				t.Fatalf("hit %t, want %t", hit, tt.hit)
			}
		})
	}
	if k1 == keysDigest(secret.Fields{"key1a": secret.New("")}) {
		t.Fatal("a name's end and a value's start are not told apart")
	}
	c.forget("id")
	if _, hit := c.get("id", k1, t0); hit {
		t.Fatal("forgotten entry still held")
	}
	for i := range MaxProps + 1 {
		c.put(fmt.Sprint(i), propEntry{keys: k1, at: t0})
	}
	if n := c.len(); n != 1 {
		t.Fatalf("%d entries after %d puts, want the cache started over (1)", n, MaxProps+1)
	}
}

// propGETs counts the GETs of a's resource (its properties; listKeys is
// a POST).
func propGETs(a sources.Account) int {
	n := 0
	for _, r := range emu.RequestLog() {
		if r.Method == http.MethodGet && strings.EqualFold(r.Path, a.ResourceID()) {
			n++
		}
	}
	return n
}

// connString is the connection string at path.
func connString(t *testing.T, path string) string {
	t.Helper()
	got, err := dev.Client.KVv2("secret").Get(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := got.Data["connection-string"].(string)
	return s
}

// zone is a Storage account's endpoints in an Azure DNS zone: not
// guessable from its name, so only its GET or its discovery's row gives
// them.
func zone(name string, z int) map[string]string {
	return map[string]string{"blob": fmt.Sprintf("https://%s.z%02d.blob.storage.azure.net/", name, z)}
}

var connSpec = []spec.Spec{{Name: "connection-string", Kind: spec.StorageConnectionString}}

// TestListedEndpointsReadOncePerTTL: a listed account's connection string
// reads its endpoints with one GET, then from memory for PropsTTL; again
// after it; again at once when the account's keys change (the account
// made anew under the same id, in another DNS zone: its connection
// string names the new zone in that same sync) and after a failed sync.
func TestListedEndpointsReadOncePerTTL(t *testing.T) {
	needReal(t)
	name := fmt.Sprintf("cache%d", seq.Add(1))
	res := armemu.Resource{Type: "storage", Subscription: sub, ResourceGroup: "rg", Name: name}
	emu.Add(res)
	must(t, emu.SetEndpoints(res, zone(name, 1)))
	a := sources.Account{Type: "storage", SubscriptionID: sub, ResourceGroup: "rg", Name: name}
	job := account.Job{Account: a, Path: "props/" + name, Derived: connSpec}
	clock := time.Now()
	r := &Runner{Source: src, Sink: newSink(t), Retry: DefaultRetry, Now: func() time.Time { return clock }}
	step := func(what string, advance time.Duration, gets int, z int, fails bool) {
		t.Helper()
		clock = clock.Add(advance)
		if res := r.Sync(context.Background(), job); (res.Err != nil) != fails {
			t.Fatalf("%s: sync error %v, want a failure: %t", what, res.Err, fails)
		}
		if got := propGETs(a); got != gets {
			t.Fatalf("%s: %d GETs of the account, want %d", what, got, gets)
		}
		if cs := connString(t, job.Path); !fails && !strings.Contains(cs, "BlobEndpoint="+zone(name, z)["blob"]) {
			t.Fatalf("%s: the connection string names another blob endpoint than zone %d's", what, z)
		}
	}
	step("first", 0, 1, 1, false)
	step("unchanged", time.Minute, 1, 1, false)
	step("within the TTL", PropsTTL-2*time.Minute, 1, 1, false)
	step("after the TTL", 2*time.Minute, 2, 1, false)
	emu.Add(res) // deleted and made again: new keys, another zone
	must(t, emu.SetEndpoints(res, zone(name, 2)))
	step("made anew", time.Minute, 3, 2, false)
	step("unchanged again", time.Minute, 3, 2, false)
	emu.InjectFault(res, armemu.Fault{Kind: armemu.FaultStatus, Status: http.StatusNotFound, Code: "ResourceNotFound", Times: 1})
	step("failed", time.Minute, 3, 2, true)
	step("after the failure", time.Minute, 4, 2, false)
}

// TestDiscoveredEndpointsNeedNoGET: an account a [[discover]] block finds
// by Resource Graph takes its endpoints from its row: its connection
// string names its zone's endpoints and no cycle asks its GET; a block
// whose values read no properties keeps none in its jobs.
func TestDiscoveredEndpointsNeedNoGET(t *testing.T) {
	needReal(t)
	subID, prefix, name := fmt.Sprintf("cccccccc-0000-0000-0000-%012d", seq.Add(1)), fmt.Sprintf("dz%d", seq.Add(1)), fmt.Sprintf("store%d", seq.Add(1))
	addStorage(t, subID, name)
	must(t, emu.SetEndpoints(armemu.Resource{Type: "storage", Subscription: subID, ResourceGroup: "rg", Name: name}, zone(name, 7)))
	block := discoverBlock(subID, prefix)
	out, _ := discovery.Run(context.Background(), src, []discovery.Block{block}, nil, nil, discoverOpts)
	if len(out.Jobs) != 1 || out.Jobs[0].Job.Props != nil {
		t.Fatalf("a block without connection strings: jobs %v", out.Jobs)
	}
	block.Job.Derived = connSpec
	out, _ = discovery.Run(context.Background(), src, []discovery.Block{block}, nil, nil, discoverOpts)
	if len(out.Jobs) != 1 || out.Jobs[0].Job.Props["blob"] != zone(name, 7)["blob"] {
		t.Fatalf("jobs %v", out.Jobs)
	}
	job := *out.Jobs[0].Job
	r := &Runner{Source: src, Sink: newSink(t), Retry: DefaultRetry}
	for range 2 {
		if res := r.Sync(context.Background(), job); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if n := propGETs(job.Account); n != 0 {
		t.Fatalf("%d GETs of a discovered account's properties, want none", n)
	}
	if cs := connString(t, job.Path); !strings.Contains(cs, "BlobEndpoint="+zone(name, 7)["blob"]) {
		t.Fatal("the connection string does not name the endpoint of the discovery's row")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
