package runner

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// derivedJob is a rotating Storage job with an account SAS at its own
// path and one at the account's.
func (f *fixture) derivedJob() account.Job {
	a := sources.Account{SubscriptionID: "sub-d", ResourceGroup: "rg", Name: "store1", Type: "storage"}
	f.src.Add(a, "key1", "key2")
	sas := spec.Spec{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: 720 * time.Hour}
	own := sas
	own.Path = "apps/store1/sas"
	return account.Job{Account: a, Path: "fast/store1", Derived: []spec.Spec{sas, own},
		Rotate: &plan.Rotation{Every: 24 * time.Hour, Grace: time.Hour, Pairs: []plan.Pair{{Active: plan.FieldActive, Keys: [2]string{"key1", "key2"}}}}}
}

// signedWith reports whether the SAS at path is what key makes.
func (f *fixture) signedWith(t *testing.T, job account.Job, path, key string) bool {
	t.Helper()
	data, _, _ := f.sink.Get(path)
	v, _ := data["sas"].(string)
	keys := secret.Fields{}
	for k, val := range f.src.Keys(job.Account) {
		keys[k] = secret.New(val)
	}
	held := secret.New(v)
	in := derive.Input{AccountID: job.Account.ResourceID(), Name: job.Account.Name, Keys: keys, Active: key}
	r, err := derive.Derive(job.Derived[0], in, &held, f.clock.Now())
	return err == nil && !r.Fresh
}

// TestFastRegenerateWaitsForOwnPaths: a derived value at a path of its own
// that is not yet signed with the key that stays valid holds the
// regenerate back; once written, the rotation re-signs every derived
// value with the new active key in the same sync.
func TestFastRegenerateWaitsForOwnPaths(t *testing.T) {
	f := newFixture()
	job := f.derivedJob()
	refuse := true
	f.sink.Hook = func(_ context.Context, op, path string) error {
		if refuse && op == "write" && path == "apps/store1/sas" {
			return &sinks.Error{Op: op, Path: path, Err: errors.New("permission denied"), StatusCode: 403}
		}
		return nil
	}
	if res := f.r.Sync(context.Background(), job); res.Err == nil {
		t.Fatal("the own path's refused write did not fail the sync")
	}
	if !f.signedWith(t, job, job.Path, "key1") {
		t.Fatal("the account path's SAS is not key1's")
	}
	f.clock.Advance(25 * time.Hour)
	if res := f.r.Sync(context.Background(), job); res.Err == nil || f.src.Calls("regenerate", job.Account) != 0 {
		t.Fatalf("regenerated (%d) while the own path held no value of the valid key: %v", f.src.Calls("regenerate", job.Account), res.Err)
	}
	refuse = false
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Rotation.Regenerate != "key2" || f.active(job) != "key2" {
		t.Fatalf("%v: regenerated %q, active %q", res.Err, res.Change.Rotation.Regenerate, f.active(job))
	}
	for _, p := range []string{job.Path, "apps/store1/sas"} {
		if !f.signedWith(t, job, p, "key2") {
			t.Fatalf("%s: SAS not re-signed with the new active key in the rotation's sync", p)
		}
	}
	_, meta, _ := f.sink.Get("apps/store1/sas")
	data, _, _ := f.sink.Get("apps/store1/sas")
	if meta[plan.MetaManagedBy] != plan.ManagedByValue || data[plan.FieldOwner] != strings.ToLower(job.Account.ResourceID()) || meta["derived-sas-key"] != "key2" {
		t.Fatalf("own path lacks keysync's marks or provenance: %v", meta)
	}
	if rep := f.r.Expiries.Report(); len(rep) != 2 || rep[0].Path != "apps/store1/sas" || rep[1].Path != job.Path ||
		!rep[0].Expires.Equal(f.clock.Now().UTC().Truncate(time.Second).Add(720*time.Hour)) || !rep[0].RenewAt.Before(rep[0].Expires) {
		t.Fatalf("expiries after the rotation: %+v", rep)
	}
	versions := func() int { _, _, n := f.sink.Get("apps/store1/sas"); return n }
	before := versions()
	f.clock.Advance(time.Hour)
	if res := f.r.Sync(context.Background(), job); res.Err != nil || versions() != before {
		t.Fatalf("an unchanged cycle wrote the own path: %v, versions %d -> %d", res.Err, before, versions())
	}
	for _, p := range []string{job.Path, "apps/store1/sas"} {
		data, _, _ := f.sink.Get(p)
		q, _ := url.ParseQuery(data["sas"].(string))
		if sig := q.Get("sig"); sig == "" || strings.Contains(f.logs.String(), sig) {
			t.Fatalf("%s: the SAS's signature is missing, or in the logs", p)
		}
	}
}
