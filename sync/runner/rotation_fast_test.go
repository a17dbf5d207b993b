package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// rotating is a rotating job with its baseline synced, one period ago.
func (f *fixture) rotating(t *testing.T, name string) account.Job {
	t.Helper()
	job := f.job(name)
	job.Rotate = &plan.Rotation{Every: 24 * time.Hour, Grace: time.Hour}
	if res := f.r.Sync(context.Background(), job); res.Err != nil || res.Change.Rotation.Regenerate != "" {
		t.Fatalf("baseline: %v, regenerate %q", res.Err, res.Change.Rotation.Regenerate)
	}
	f.clock.Advance(25 * time.Hour)
	return job
}

func (f *fixture) active(job account.Job) string {
	data, _, _ := f.sink.Get(job.Path)
	s, _ := data[plan.FieldActive].(string)
	return s
}

func TestFastRotationRegeneratesTheInactiveKey(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	before := f.src.Keys(job.Account)
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Rotation.Regenerate != "secondary" {
		t.Fatalf("%v, regenerated %q", res.Err, res.Change.Rotation.Regenerate)
	}
	after := f.src.Keys(job.Account)
	if after["primary"] != before["primary"] || after["secondary"] == before["secondary"] {
		t.Fatal("the active key was regenerated, or the inactive one was not")
	}
	f.inSync(t, job)
	if f.active(job) != "secondary" {
		t.Fatalf("active %q", f.active(job))
	}
	// Within the period nothing rotates; the next period rotates back.
	f.clock.Advance(time.Hour)
	if res := f.r.Sync(context.Background(), job); res.Change.Rotation.Regenerate != "" {
		t.Fatalf("rotated again within the period: %q", res.Change.Rotation.Regenerate)
	}
	f.clock.Advance(24 * time.Hour)
	if res := f.r.Sync(context.Background(), job); res.Change.Rotation.Regenerate != "primary" || f.active(job) != "primary" {
		t.Fatalf("second rotation regenerated %q, active %q", res.Change.Rotation.Regenerate, f.active(job))
	}
	if n := f.src.Calls("regenerate", job.Account); n != 2 {
		t.Fatalf("%d regenerations, want 2", n)
	}
}

// TestFastFailedRegenerateLeavesVaultUntouched: nothing is written when
// Azure refuses the regeneration.
func TestFastFailedRegenerateLeavesVaultUntouched(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	_, _, versions := f.sink.Get(job.Path)
	f.src.Hook = func(_ context.Context, op string, _ sources.Account) error {
		if op == "regenerate" {
			return &sources.Error{StatusCode: 409, Code: "Conflict"}
		}
		return nil
	}
	res := f.r.Sync(context.Background(), job)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "regenerating secondary key") {
		t.Fatalf("err %v", res.Err)
	}
	if _, _, v := f.sink.Get(job.Path); v != versions || f.active(job) != "primary" || len(f.r.Pending.Paths()) != 0 {
		t.Fatalf("versions %d -> %d, active %q, pending %v", versions, v, f.active(job), f.r.Pending.Paths())
	}
}

// TestFastPendingWriteIsRetriedWithoutRegenerating: after a regeneration
// whose write fails, the account is pending; the next sync writes the new
// key without regenerating again, and says loudly that Vault is behind.
func TestFastPendingWriteIsRetriedWithoutRegenerating(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	f.sink.Hook = failWritesAfter(1)
	res := f.r.Sync(context.Background(), job)
	if res.Err == nil || f.src.Calls("regenerate", job.Account) != 1 {
		t.Fatalf("err %v, %d regenerations", res.Err, f.src.Calls("regenerate", job.Account))
	}
	if got := f.r.Pending.Paths(); len(got) != 1 || got[0] != job.Path {
		t.Fatalf("pending %v", got)
	}
	if !strings.Contains(f.logs.String(), "ROTATED KEY NOT IN VAULT") {
		t.Fatal("no loud log line for the pending write")
	}
	f.sink.Hook = nil
	f.clock.Advance(time.Minute)
	res = f.r.Sync(context.Background(), job)
	if res.Err != nil || f.src.Calls("regenerate", job.Account) != 1 {
		t.Fatalf("retry: %v, %d regenerations", res.Err, f.src.Calls("regenerate", job.Account))
	}
	f.inSync(t, job)
	if f.active(job) != "secondary" || len(f.r.Pending.Paths()) != 0 {
		t.Fatalf("active %q, pending %v", f.active(job), f.r.Pending.Paths())
	}
	f.noKeyIn(t, "the log", f.logs.String(), job)
}

// TestFastRefusedSecretIsNeverRotated: a secret keysync does not own is
// refused before anything is regenerated.
func TestFastRefusedSecretIsNeverRotated(t *testing.T) {
	f := newFixture()
	job := f.job("alpha")
	job.Rotate = &plan.Rotation{Every: time.Hour}
	f.sink.Put(job.Path, map[string]any{"primary": "theirs"}, map[string]string{"team": "x"})
	res := f.r.Sync(context.Background(), job)
	if !errors.Is(res.Err, ErrRefused) || f.src.Calls("regenerate", job.Account) != 0 {
		t.Fatalf("err %v, %d regenerations", res.Err, f.src.Calls("regenerate", job.Account))
	}
}

// TestFastSourceWithoutRotator: rotation needs a source that regenerates.
func TestFastSourceWithoutRotator(t *testing.T) {
	f := newFixture()
	job := f.rotating(t, "alpha")
	f.r = &Runner{Source: fetchOnly{f.src}, Sink: f.sink, Now: f.clock.Now, Sleep: f.clock.Sleep}
	if res := f.r.Sync(context.Background(), job); !errors.Is(res.Err, errNoRotator) {
		t.Fatalf("err %v", res.Err)
	}
}

type fetchOnly struct{ sources.Source }
