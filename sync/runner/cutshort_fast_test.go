package runner

import (
	"context"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// cutShort leaves at job.Path exactly what keysync's create of the job
// writes in its data request, without its metadata: the state a create
// stopped between its two requests leaves (sinks.Write.Create).
func (f *fixture) cutShort(t *testing.T, job account.Job) {
	t.Helper()
	ctx := context.Background()
	if res := f.r.Sync(ctx, job); res.Err != nil || res.Change.Action != plan.Create {
		t.Fatalf("create: %v %v", res.Change.Action, res.Err)
	}
	data, _, _ := f.sink.Get(job.Path)
	if err := f.sink.Write(ctx, job.Path, sinks.Write{Delete: true}); err != nil {
		t.Fatal(err)
	}
	f.sink.Put(job.Path, data, nil)
}

// TestCutShortCreateOfEveryShapeIsRepaired: a create cut short between
// its data write and its metadata PATCH is repaired by the account's
// next sync, whatever fields keysync's create wrote: a second rotating
// pair's active field (Cosmos DB's active-readonly) and a derived value
// at the account's own path are keysync's fields too, not a foreign
// writer's.
func TestCutShortCreateOfEveryShapeIsRepaired(t *testing.T) {
	twoPairs := func(f *fixture) account.Job {
		a := sources.Account{SubscriptionID: "sub-c", ResourceGroup: "rg", Name: "cosmos1"}
		f.src.Add(a, "primary", "secondary", "readonly-primary", "readonly-secondary")
		return account.Job{Account: a, Path: "fast/cosmos1", Rotate: &plan.Rotation{Every: 24 * time.Hour, Grace: time.Hour, Pairs: []plan.Pair{
			{Active: plan.FieldActive, Keys: [2]string{"primary", "secondary"}},
			{Active: plan.FieldActive + "-readonly", Keys: [2]string{"readonly-primary", "readonly-secondary"}},
		}}}
	}
	for _, tc := range []struct {
		name string
		job  func(f *fixture) account.Job
	}{
		{"one pair", func(f *fixture) account.Job {
			j := f.job("alpha")
			j.Rotate = &plan.Rotation{Every: 24 * time.Hour, Grace: time.Hour}
			return j
		}},
		{"two rotating pairs", twoPairs},
		{"rotating, a derived value beside the keys", func(f *fixture) account.Job {
			j := f.derivedJob()
			j.Derived = j.Derived[:1]
			return j
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			job := tc.job(f)
			f.cutShort(t, job)
			res := f.r.Sync(context.Background(), job)
			if res.Err != nil || res.Change.Action == plan.Refused {
				t.Fatalf("the next sync: %v %v (%s), want the metadata repaired", res.Change.Action, res.Err, res.Change.Reason)
			}
			if _, meta, _ := f.sink.Get(job.Path); meta[plan.MetaManagedBy] != plan.ManagedByValue {
				t.Fatalf("managed-by after the next sync: %q", meta[plan.MetaManagedBy])
			}
		})
	}
}
