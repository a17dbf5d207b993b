package runner

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// failWritesAfter is a sink hook that lets n writes through (the rotation
// record is the first), then fails every write as a sealed Vault does.
func failWritesAfter(n int32) func(context.Context, string, string) error {
	var writes atomic.Int32
	return func(_ context.Context, op, path string) error {
		if op == "write" && writes.Add(1) > n {
			return &sinks.Error{Op: "write", Path: path, StatusCode: 503, Transient: true, Err: errors.New("sealed")}
		}
		return nil
	}
}

func (f *fixture) meta(job account.Job) map[string]string {
	_, m, _ := f.sink.Get(job.Path)
	return m
}

// TestFastRecordOutlivesTheProcess: the regenerate succeeds, the write
// fails, and the runner is gone (a --run-now that exits, a restart). A new
// runner with nothing in memory finds the record in the metadata and the
// changed key, and completes the rotation at the record's time without
// regenerating again.
func TestFastRecordOutlivesTheProcess(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	decided := f.clock.Now()
	f.sink.Hook = failWritesAfter(1)
	if res := f.r.Sync(context.Background(), job); res.Err == nil {
		t.Fatal("the write did not fail")
	}
	if rec := f.meta(job)[plan.MetaRotationPending]; rec != "secondary "+decided.UTC().Format(time.RFC3339) {
		t.Fatalf("record %q", rec)
	}
	f.sink.Hook = nil
	f.clock.Advance(time.Hour)
	f.r = &Runner{Source: f.src, Sink: f.sink, Now: f.clock.Now, Sleep: f.clock.Sleep, Logger: f.r.Logger}
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || f.src.Calls("regenerate", job.Account) != 1 || res.Change.Rotation.Completed != "secondary" {
		t.Fatalf("%v, %d regenerations, completed %q", res.Err, f.src.Calls("regenerate", job.Account), res.Change.Rotation.Completed)
	}
	f.inSync(t, job)
	m := f.meta(job)
	// The key at its regeneration's time, the pair's period from when the
	// key reached Vault: an hour later.
	if f.active(job) != "secondary" || m[plan.MetaRotatedPrefix+"secondary-at"] != decided.UTC().Format(time.RFC3339) ||
		m[plan.MetaRotatedAt] != f.clock.Now().UTC().Format(time.RFC3339) || m[plan.MetaRotationPending] != "" {
		t.Fatalf("active %q, metadata %v", f.active(job), m)
	}
	f.noKeyIn(t, "the log", f.logs.String(), job)
}

// TestFastCrashBeforeRegenerate: a record whose key did not change (the
// process died between the record and the regenerate, or the regenerate
// timed out) holds the account back while that regenerate may still land:
// the sync reports the rotation pending, not unchanged, and regenerates
// nothing. Once the record is older than a regenerate can run, the key is
// regenerated as planned and the record noted as not trusted.
func TestFastCrashBeforeRegenerate(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	m := f.meta(job)
	m[plan.MetaRotationPending] = "secondary " + f.clock.Now().UTC().Format(time.RFC3339)
	f.sink.Put(job.Path, nil, m)
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || !Held(res) || Outcome(res) != "pending" || f.src.Calls("regenerate", job.Account) != 0 {
		t.Fatalf("in flight: %v (%s), %d regenerations", res.Err, Outcome(res), f.src.Calls("regenerate", job.Account))
	}
	if d := res.Change.Describe(); !strings.Contains(d, "rotate: pending, the regeneration of secondary recorded at ") {
		t.Fatalf("describe %q", d)
	}
	if s := Summarize([]Result{res}); s.Pending != 1 || s.Unchanged+s.Failed != 0 || !strings.Contains(s.String(), "1 rotation pending") {
		t.Fatalf("summary %+v: %s", s, s)
	}
	f.clock.Advance(2 * DefaultRegenerateTimeout)
	res = f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Rotation.Regenerate != "secondary" || f.src.Calls("regenerate", job.Account) != 1 || f.active(job) != "secondary" {
		t.Fatalf("after it: %v, regenerate %q", res.Err, res.Change.Rotation.Regenerate)
	}
	if f.meta(job)[plan.MetaRotationPending] != "" || f.r.Problems.Found() != 1 {
		t.Fatalf("record %q left, %d problem syncs", f.meta(job)[plan.MetaRotationPending], f.r.Problems.Found())
	}
}

// TestFastRefusedRegenerateTakesTheRecordBack: Azure said no, nothing
// changed, so the metadata is as it was; a timeout keeps the record, since
// the regenerate may have landed.
func TestFastRefusedRegenerateTakesTheRecordBack(t *testing.T) {
	for _, tt := range []struct {
		name   string
		err    error
		record bool
	}{
		{"refused", &sources.Error{StatusCode: 403, Code: "AuthorizationFailed"}, false},
		{"timed out", &sources.Error{Transient: true, Code: "Timeout"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			f.r.Retry = RetryPolicy{Attempts: 1}
			job := f.rotating(t, "alpha")
			before := f.meta(job)
			f.src.Hook = func(_ context.Context, op string, _ sources.Account) error {
				if op == "regenerate" {
					return tt.err
				}
				return nil
			}
			if res := f.r.Sync(context.Background(), job); res.Err == nil || !strings.Contains(res.Err.Error(), "regenerating secondary key") {
				t.Fatalf("err %v", res.Err)
			}
			_, kept := f.meta(job)[plan.MetaRotationPending]
			if kept != tt.record || (!kept && len(f.meta(job)) != len(before)) {
				t.Fatalf("record kept %t, metadata %v", kept, f.meta(job))
			}
		})
	}
}

// TestFastDryRunRecordsNothing: a dry run shows the rotation and neither
// records nor regenerates it.
func TestFastDryRunRecordsNothing(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	writes := f.sink.Writes()
	f.r.DryRun = true
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || !strings.Contains(res.Change.Describe(), "rotate: regenerate secondary") {
		t.Fatalf("%v %q", res.Err, res.Change.Describe())
	}
	if f.sink.Writes() != writes || f.src.Calls("regenerate", job.Account) != 0 {
		t.Fatalf("%d writes, %d regenerations", f.sink.Writes()-writes, f.src.Calls("regenerate", job.Account))
	}
}

// TestFastRecordWriteFailsNothingRegenerated: when the record cannot be
// written, nothing is regenerated.
func TestFastRecordWriteFailsNothingRegenerated(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	f.sink.Hook = failWritesAfter(0)
	res := f.r.Sync(context.Background(), job)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "recording the rotation") || f.src.Calls("regenerate", job.Account) != 0 {
		t.Fatalf("%v, %d regenerations", res.Err, f.src.Calls("regenerate", job.Account))
	}
}

// TestFastMetadataLagCompletesTheRecord: the write after a regenerate
// lands its data (the new key, active naming it) but not the metadata
// after it (Vault's KV v2 takes them in two calls: an error between them,
// or the process killed there), so the record and the old rotated-at stay.
// The next sync completes the rotation; it must not take the old
// rotated-at for a due period and regenerate the key consumers used until
// a moment ago.
func TestFastMetadataLagCompletesTheRecord(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	stale := f.meta(job)
	decided := f.clock.Now().UTC().Format(time.RFC3339)
	if res := f.r.Sync(context.Background(), job); res.Err != nil || res.Change.Rotation.Regenerate != "secondary" {
		t.Fatalf("%v, regenerated %q", res.Err, res.Change.Rotation.Regenerate)
	}
	data, _, _ := f.sink.Get(job.Path)
	stale[plan.MetaRotationPending] = "secondary " + decided
	f.sink.Put(job.Path, data, stale) // the metadata as the record left it
	f.clock.Advance(time.Minute)
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Rotation.Regenerate != "" || f.src.Calls("regenerate", job.Account) != 1 {
		t.Fatalf("%v: regenerated %q, %d regenerations in all", res.Err, res.Change.Rotation.Regenerate, f.src.Calls("regenerate", job.Account))
	}
	m := f.meta(job)
	if f.active(job) != "secondary" || m[plan.MetaRotatedPrefix+"secondary-at"] != decided || m[plan.MetaRotationPending] != "" {
		t.Fatalf("active %q, metadata %v", f.active(job), m)
	}
	f.inSync(t, job)
}
