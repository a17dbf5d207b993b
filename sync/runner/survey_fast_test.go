package runner

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// countOps counts the sink's calls by operation.
func countOps(f *fixture) func(op string) int {
	var mu sync.Mutex
	n := map[string]int{}
	f.sink.Hook = func(_ context.Context, op, _ string) error {
		mu.Lock()
		defer mu.Unlock()
		n[op]++
		return nil
	}
	return func(op string) int {
		mu.Lock()
		defer mu.Unlock()
		return n[op]
	}
}

// TestSurveySparesCreatesTheirRead: after a survey, a path that holds
// nothing is created without a read, and a path that holds a secret is
// read first. Jobs whose survey is stale (run again, the secrets now
// there) cost a check-and-set conflict and a read, and write nothing.
func TestSurveySparesCreatesTheirRead(t *testing.T) {
	f := newFixture()
	ctx := context.Background()
	held, fresh := f.job("alpha"), []account.Job{f.job("bravo"), f.job("charlie")}
	if res := f.r.Sync(ctx, held); res.Err != nil {
		t.Fatal(res.Err)
	}
	ops := countOps(f)
	jobs := append([]account.Job{held}, fresh...)
	f.r.Survey(ctx, jobs)
	for _, res := range f.r.Run(ctx, jobs) {
		if res.Err != nil {
			t.Fatalf("%s: %v", res.Job.Path, res.Err)
		}
		f.inSync(t, res.Job)
	}
	if got := ops("read"); got != 1 {
		t.Fatalf("a cycle after the survey read %d times, want 1 (the secret that was there)", got)
	}
	writes := f.sink.Writes()
	for _, res := range f.r.Run(ctx, jobs) {
		if res.Err != nil || res.Change.Action != plan.Unchanged {
			t.Fatalf("stale survey, %s: %v %v", res.Job.Path, res.Change.Action, res.Err)
		}
	}
	if got := ops("read"); got != 1+len(jobs) {
		t.Fatalf("the stale cycle read %d times, want %d", got-1, len(jobs))
	}
	if got := f.sink.Writes(); got != writes {
		t.Fatalf("a stale survey wrote %d times", got-writes)
	}
}

// TestSurveyIsOnlyAHint: a secret written at a surveyed path after the
// survey is not overwritten. A writer of data makes keysync's create fail
// its check-and-set; keysync reads, finds the secret is not its own and
// refuses, and the writer's data stays. A writer of metadata alone keeps
// its custom_metadata beside keysync's marks.
func TestSurveyIsOnlyAHint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   map[string]any
		refuse bool
	}{
		{name: "data", data: map[string]any{"owner": "payments"}, refuse: true},
		{name: "metadata alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			ctx := context.Background()
			job := f.job("alpha")
			f.r.Survey(ctx, []account.Job{job})
			f.sink.Put(job.Path, tc.data, map[string]string{"team": "payments"})
			res := f.r.Sync(ctx, job)
			if got := errors.Is(res.Err, ErrRefused); got != tc.refuse {
				t.Fatalf("sync: %v (%v); want refused: %v", res.Err, res.Change.Action, tc.refuse)
			}
			data, meta, versions := f.sink.Get(job.Path)
			if meta["team"] != "payments" {
				t.Errorf("the other writer's custom_metadata is gone")
			}
			if tc.refuse && (versions != 1 || data["owner"] != "payments" || meta[plan.MetaManagedBy] != "") {
				t.Errorf("keysync wrote over the other writer's secret: %d versions", versions)
			}
			if !tc.refuse {
				f.inSync(t, job)
			}
		})
	}
}
