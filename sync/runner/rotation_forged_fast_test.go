package runner

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// forge writes metadata as a principal that may write the secret's
// metadata but not its data would: the data, and so the live version's
// time, stay as they are.
func (f *fixture) forge(job account.Job, set map[string]string) {
	m := f.meta(job)
	maps.Copy(m, set)
	f.sink.Put(job.Path, nil, m)
}

// TestFastForgedStampsDoNotRegenerate: stamps forged to 1970 right after
// a rotation do not regenerate the key active just moved away from; a
// period after the version the rotation wrote, it rotates as usual.
func TestFastForgedStampsDoNotRegenerate(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	if res := f.r.Sync(context.Background(), job); res.Err != nil || res.Change.Rotation.Regenerate != "secondary" {
		t.Fatalf("the first rotation: %v, %q", res.Err, res.Change.Rotation.Regenerate)
	}
	epoch := time.Unix(0, 0).UTC().Format(time.RFC3339)
	f.clock.Advance(2 * time.Hour) // past the grace (1h), well within the period (24h)
	f.forge(job, map[string]string{plan.MetaRotatedAt: epoch, plan.MetaRotatedPrefix + "primary-at": epoch, plan.MetaRotatedPrefix + "secondary-at": epoch})
	if res := f.r.Sync(context.Background(), job); res.Err != nil || f.src.Calls("regenerate", job.Account) != 1 {
		t.Fatalf("forged stamps: %v, %d regenerations, want the first only", res.Err, f.src.Calls("regenerate", job.Account))
	}
	f.clock.Advance(23 * time.Hour)
	if res := f.r.Sync(context.Background(), job); res.Err != nil || res.Change.Rotation.Regenerate != "primary" {
		t.Fatalf("a period on: %v, regenerated %q", res.Err, res.Change.Rotation.Regenerate)
	}
}

// TestFastInvalidMetadataIsReportedOnce: a rotated-at forged into the
// future is ignored (the rotation goes on by the version's time),
// repaired, logged once however many syncs see the account, kept in the
// report for operators after the repair, and its end logged once.
func TestFastInvalidMetadataIsReportedOnce(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	f.forge(job, map[string]string{plan.MetaRotatedAt: "2036-01-01T00:00:00Z"})
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Rotation.Regenerate != "secondary" || len(res.Change.Rotation.Problems) != 1 {
		t.Fatalf("%v, regenerated %q, problems %q", res.Err, res.Change.Rotation.Regenerate, res.Change.Rotation.Problems)
	}
	for range 3 {
		f.clock.Advance(time.Minute)
		if res := f.r.Sync(context.Background(), job); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if n := strings.Count(f.logs.String(), "rotation metadata not trusted"); n != 1 {
		t.Fatalf("%d warnings, want 1", n)
	}
	if n := strings.Count(f.logs.String(), "rotation metadata is valid again"); n != 1 {
		t.Fatalf("%d notes of the end, want 1", n)
	}
	reps := f.r.Problems.Reports()
	if len(reps) != 1 || reps[0].Path != job.Path || reps[0].Current || !strings.Contains(reps[0].Problems[0], "2036-01-01T00:00:00Z") || f.r.Problems.Current() != 0 {
		t.Fatalf("reports %+v", reps)
	}
}

// TestFastUnfinishedRegenerateIsPending: a long-running regenerate that
// outlives keysync's polling (OperationNotFinished, transient) leaves its
// record; the retry finds the key unchanged and the record in flight. The
// result is pending, never unchanged, and said once in the log however
// many syncs find the same record; the runner does not fail it, so that a
// principal writing fresh records cannot back the account off or make
// keysync unready.
func TestFastUnfinishedRegenerateIsPending(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	f.src.Hook = func(_ context.Context, op string, _ sources.Account) error {
		if op == "regenerate" {
			return &sources.Error{Transient: true, Code: "OperationNotFinished"}
		}
		return nil
	}
	res := f.r.Sync(context.Background(), job)
	if Outcome(res) != "pending" || res.Err != nil || res.Attempts != 2 || f.src.Calls("regenerate", job.Account) != 1 {
		t.Fatalf("%s after %d attempts: %v, %d regenerations", Outcome(res), res.Attempts, res.Err, f.src.Calls("regenerate", job.Account))
	}
	if s := Summarize([]Result{res, res}); s.Pending != 2 || s.Unchanged+s.Failed != 0 {
		t.Fatalf("summary %+v", s)
	}
	f.clock.Advance(time.Minute)
	if res := f.r.Sync(context.Background(), job); !Held(res) {
		t.Fatalf("a minute on: %s", Outcome(res))
	}
	if n := strings.Count(f.logs.String(), "rotation pending: a recorded regenerate may still land"); n != 1 {
		t.Fatalf("%d log lines for one record, want 1", n)
	}
}

// TestFastRegenerateIsBounded: the runner bounds a regenerate by its own
// deadline, within the time its record holds the account back.
func TestFastRegenerateIsBounded(t *testing.T) {
	f := newFixture()
	f.r.RegenerateTimeout = time.Minute
	job := f.rotating(t, "alpha")
	var left time.Duration
	f.src.Hook = func(ctx context.Context, op string, _ sources.Account) error {
		if d, ok := ctx.Deadline(); ok && op == "regenerate" {
			left = time.Until(d)
		}
		return nil
	}
	if res := f.r.Sync(context.Background(), job); res.Err != nil || left <= 0 || left > time.Minute {
		t.Fatalf("%v, the regenerate had %v left", res.Err, left)
	}
}
