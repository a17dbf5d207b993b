package scheduler

import (
	"context"
	"testing"

	"github.com/keysync/keysync/sync/runner"
)

// blockSyncer holds every sync until release is closed, and tells nothing
// to the loop meanwhile.
type blockSyncer struct{ release chan struct{} }

func (b blockSyncer) Sync(ctx context.Context, job runner.Job) runner.Result {
	<-b.release
	return runner.Result{Job: job}
}

// TestReloadWhileASyncStarts: a reload that gives a syncing account new
// settings replaces its held account while the sync it dispatched is
// starting; the sync must have taken its job under the lock, not read
// the state's account from its own goroutine (-race sees that).
func TestReloadWhileASyncStarts(t *testing.T) {
	a := account("a", "s1", "@hourly")
	sy := blockSyncer{release: make(chan struct{})}
	s := New(Options{SyncOnStart: true, Concurrency: 1, Clock: newFakeClock(t0)}, sy, []Account{a})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = s.Run(ctx) }()
	b := a
	b.Label = "a-relabelled"
	if err := s.Reload(ctx, sy, []Account{b}); err != nil {
		t.Fatal(err)
	}
	close(sy.release)
	cancel()
	<-ran
	if got := s.Status(t0); len(got) != 1 || got[0].Account != "a-relabelled" {
		t.Fatalf("status %+v", got)
	}
}
