package runner

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/discovery"
	"github.com/keysync/keysync/sync/plan"
)

// discoverBlock is a storage block over one subscription's tagged
// accounts at keys/{name} (under prefix), whose account SAS goes to
// apps/{name}/sas.
func discoverBlock(subID, prefix string) discovery.Block {
	return discovery.Block{Name: "stores", Path: prefix + "/keys/{name}", OnRemoved: plan.RemoveDelete,
		Selector: sources.Selector{Type: "storage", Subscriptions: []string{subID}, Tags: []sources.TagMatch{{Key: "keysync", Op: sources.TagEquals, Value: "true"}}},
		Job: account.Job{Derived: []spec.Spec{{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco",
			Expiry: 24 * time.Hour, Path: prefix + "/apps/{name}/sas"}}}}
}

// discoverOpts checks paths as the daemon does.
var discoverOpts = discovery.Options{MaxRemovedFraction: 1, CheckPath: func(p string) error { return config.CheckVaultPath("secret", p) }}

// addStorage adds a tagged storage account to the emulator.
func addStorage(t *testing.T, subID, name string) {
	t.Helper()
	r := armemu.Resource{Type: "storage", Subscription: subID, ResourceGroup: "rg", Name: name}
	emu.Add(r)
	if err := emu.SetTags(r, map[string]string{"keysync": "true"}); err != nil {
		t.Fatal(err)
	}
}

// sasSignedBy reports whether the SAS at path is what the account's key1
// makes (the held value is kept, not made anew).
func sasSignedBy(t *testing.T, j account.Job, path string) bool {
	t.Helper()
	got, err := dev.Client.KVv2("secret").Get(context.Background(), path)
	if err != nil {
		return false
	}
	acct, _ := emu.Get(armemu.Resource{Type: "storage", Subscription: j.Account.SubscriptionID, ResourceGroup: "rg", Name: j.Account.Name})
	v, _ := got.Data["sas"].(string)
	held := secret.New(v)
	in := derive.Input{AccountID: j.Account.ResourceID(), Name: j.Account.Name, Keys: secret.Fields{"key1": secret.New(acct.Keys["key1"])}, Active: "key1"}
	res, err := derive.Derive(j.Derived[0], in, &held, time.Now())
	owner, _ := got.Data[plan.FieldOwner].(string)
	return err == nil && !res.Fresh && strings.EqualFold(owner, j.Account.ResourceID())
}

// TestDiscoveredDerivedOwnPaths: an account a [[discover]] block finds
// (through the emulator's Resource Graph) gets its SAS, signed with its
// own key, at the path the block's derived template makes of its name,
// owned and with check-and-set as a listed account's. An account of
// another block whose name makes that same path as its key path is a
// conflict: it writes nothing, and the SAS stays (same version); a job
// for it that skipped discovery is refused by the data mark. When the
// account is no longer found, its own derived path is marked and, once
// delete_after has passed, deleted with its key path.
func TestDiscoveredDerivedOwnPaths(t *testing.T) {
	needReal(t)
	sub1, sub2 := fmt.Sprintf("cccccccc-0000-0000-0000-%012d", seq.Add(1)), fmt.Sprintf("cccccccc-0000-0000-0000-%012d", seq.Add(1))
	prefix, name := fmt.Sprintf("dd%d", seq.Add(1)), fmt.Sprintf("store%d", seq.Add(1))
	sasPath := prefix + "/apps/" + name + "/sas"
	addStorage(t, sub1, name)
	stores := discoverBlock(sub1, prefix)
	other := discoverBlock(sub2, prefix)
	other.Name, other.Path, other.Job.Derived = "other", prefix+"/apps/{name}/sas", nil
	blocks := []discovery.Block{stores, other}
	sink := newSink(t)
	clock := time.Now()
	r := &Runner{Source: src, Sink: sink, Retry: DefaultRetry, DeleteAfter: 24 * time.Hour, Now: func() time.Time { return clock }}
	out, state := discovery.Run(context.Background(), src, blocks, nil, nil, discoverOpts)
	if len(out.Jobs) != 1 || len(out.Failed) != 0 {
		t.Fatalf("found %v, failed %v", out.Jobs, out.Failed)
	}
	job := *out.Jobs[0].Job
	if res := r.Run(context.Background(), []account.Job{job})[0]; res.Err != nil {
		t.Fatal(res.Err)
	}
	if !sasSignedBy(t, job, sasPath) {
		t.Fatalf("no SAS of %s's own key at %s", name, sasPath)
	}
	before, _ := sink.Read(context.Background(), sasPath)

	addStorage(t, sub2, name) // its key path is sub1's account's SAS path
	out, state = discovery.Run(context.Background(), src, blocks, nil, state, discoverOpts)
	if len(out.Jobs) != 1 || len(out.Decision.Conflicts) != 1 || !strings.Contains(out.Decision.Conflicts[0].Error(), "path "+sasPath+" is claimed by stores") {
		t.Fatalf("jobs %v conflicts %v", out.Jobs, out.Decision.Conflicts)
	}
	intruder := job
	intruder.Account.SubscriptionID, intruder.Path, intruder.Derived, intruder.Origin = sub2, sasPath, nil, nil
	if res := r.Run(context.Background(), append([]account.Job{intruder}, jobsOf(out)...)); res[0].Change.Action != plan.Refused || res[1].Err != nil {
		t.Fatalf("intruder %v %v, holder %v", res[0].Change.Action, res[0].Err, res[1].Err)
	}
	if after, _ := sink.Read(context.Background(), sasPath); after.Version != before.Version || !sasSignedBy(t, job, sasPath) {
		t.Fatalf("the SAS at %s was overwritten: version %d, was %d", sasPath, after.Version, before.Version)
	}

	if err := emu.SetTags(armemu.Resource{Type: "storage", Subscription: sub1, ResourceGroup: "rg", Name: name}, nil); err != nil {
		t.Fatal(err)
	}
	out, _ = discovery.Run(context.Background(), src, blocks, nil, state, discoverOpts)
	if len(out.Removals) != 1 {
		t.Fatalf("removals %v", out.Removals)
	}
	for _, step := range []struct {
		after time.Duration
		kept  bool // marked and kept; else deleted
	}{{0, true}, {25 * time.Hour, false}} {
		clock = clock.Add(step.after)
		if res := r.Run(context.Background(), out.Removals)[0]; res.Err != nil {
			t.Fatal(res.Err)
		}
		for _, p := range []string{sasPath, job.Path} {
			cur, _ := sink.Read(context.Background(), p)
			if _, marked := cur.Data.Field(plan.FieldGoneAt); cur.Exists != step.kept || marked != step.kept {
				t.Fatalf("after %s: %s exists %t marked %t", step.after, p, cur.Exists, marked)
			}
		}
	}
}

func jobsOf(out discovery.Outcome) []account.Job {
	jobs := make([]account.Job, len(out.Jobs))
	for i, f := range out.Jobs {
		jobs[i] = *f.Job
	}
	return jobs
}

// TestMemoKeepsNoForgedSAS: after a cycle has proved the SAS at its own
// path (the runner remembers it), a Vault principal that may write that
// path's data puts there a SAS with the same fields signed by a stranger's
// key, keysync's marks copied: the next cycle of the same runner does not
// keep it, and writes one signed with the account's active key.
func TestMemoKeepsNoForgedSAS(t *testing.T) {
	needReal(t)
	subID, prefix, name := fmt.Sprintf("cccccccc-0000-0000-0000-%012d", seq.Add(1)), fmt.Sprintf("dm%d", seq.Add(1)), fmt.Sprintf("store%d", seq.Add(1))
	addStorage(t, subID, name)
	out, _ := discovery.Run(context.Background(), src, []discovery.Block{discoverBlock(subID, prefix)}, nil, nil, discoverOpts)
	job := *out.Jobs[0].Job
	sasPath := prefix + "/apps/" + name + "/sas"
	r := &Runner{Source: src, Sink: newSink(t), Retry: DefaultRetry}
	for range 2 {
		if res := r.Run(context.Background(), []account.Job{job})[0]; res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	kv := dev.Client.KVv2("secret")
	cur, err := kv.Get(context.Background(), sasPath)
	if err != nil {
		t.Fatal(err)
	}
	stranger := derive.Input{AccountID: job.Account.ResourceID(), Name: name, Keys: secret.Fields{"key1": secret.New("c3RyYW5nZXIncyBrZXk=")}, Active: "key1"}
	forged, err := derive.Derive(job.Derived[0], stranger, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cur.Data["sas"] = forged.Value.Reveal()
	if _, err := kv.Put(context.Background(), sasPath, cur.Data); err != nil {
		t.Fatal(err)
	}
	if res := r.Run(context.Background(), []account.Job{job})[0]; res.Err != nil {
		t.Fatal(res.Err)
	}
	if got, _ := kv.Get(context.Background(), sasPath); got.Data["sas"] == forged.Value.Reveal() || !sasSignedBy(t, job, sasPath) {
		t.Fatal("the forged SAS was kept")
	}
}
