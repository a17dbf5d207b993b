package runner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
	"github.com/keysync/keysync/sync/account"
)

// pacedSource is a real source against the emulator, paced to a bucket
// of burst refilled at perSecond (0: no pacing).
func pacedSource(t *testing.T, perSecond float64, burst int) *azure.Source {
	t.Helper()
	s, err := azure.New(azure.Options{Azure: config.Azure{Endpoint: emu.URL(), Credential: config.CredentialManagedIdentity,
		Timeout: config.Duration{Duration: 30 * time.Second}, RequestsPerSecond: perSecond, Burst: burst}, Transport: trustingClient})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jobsIn creates n accounts in a fresh subscription.
func jobsIn(n int) []account.Job {
	sub := fmt.Sprintf("cccccccc-0000-0000-0000-%012d", seq.Add(1))
	jobs := make([]account.Job, n)
	for i := range jobs {
		a := sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: fmt.Sprintf("pace%d", seq.Add(1))}
		emu.Add(armemu.Resource{Subscription: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name})
		jobs[i] = account.Job{Account: a, Path: "paced/" + a.Name}
	}
	return jobs
}

// TestPacingKeepsUnderTheBucket: 60 accounts in one subscription against
// ARM's bucket of 10 at once and 20 a second take at least the bound
// (60-10)/20 = 2.5 s, with no 429; unpaced, a run is throttled.
//
// How much longer than the bound a paced run takes depends on the
// machine, so only a stall is bounded here; that the pacer lowers its
// bucket by no more than ARM's header says is pinned exactly by
// sources/azure's TestPacerFollowsHeadersAndHolds. The unpaced run meets a
// bucket refilled at 1 a second, which 60 requests overflow unless they
// take 50 s: it shows the emulator's bucket bites, on any machine.
func TestPacingKeepsUnderTheBucket(t *testing.T) {
	needReal(t)
	emu.SetThrottle(&armemu.Throttle{Burst: 10, Refill: 20})
	defer emu.SetThrottle(nil)
	sink := newSink(t)
	noRetry := RetryPolicy{Attempts: 1}

	before := emu.Throttled()
	r := &Runner{Source: pacedSource(t, 20, 10), Sink: sink, Concurrency: 8, Retry: noRetry}
	start := time.Now()
	results := r.Run(context.Background(), jobsIn(60))
	took := time.Since(start)
	for _, res := range results {
		if res.Err != nil {
			t.Fatalf("%s: %v", res.Job.Account.Name, res.Err)
		}
	}
	if n := emu.Throttled() - before; n != 0 {
		t.Fatalf("%d answers 429 while paced", n)
	}
	if took < 2200*time.Millisecond || took > time.Minute {
		t.Errorf("paced run took %v, bound 2.5 s", took)
	}

	emu.SetThrottle(&armemu.Throttle{Burst: 10, Refill: 1})
	before = emu.Throttled()
	r = &Runner{Source: pacedSource(t, 0, 0), Sink: sink, Concurrency: 8, Retry: noRetry}
	r.Run(context.Background(), jobsIn(60))
	if emu.Throttled() == before {
		t.Fatal("the unpaced run was never throttled: the test proves nothing")
	}
}

// TestPacingFollowsARMHeaders: when keysync believes in a larger bucket
// than ARM has left, the remaining-writes header brings it down.
func TestPacingFollowsARMHeaders(t *testing.T) {
	needReal(t)
	emu.SetThrottle(&armemu.Throttle{Burst: 10, Refill: 20})
	defer emu.SetThrottle(nil)
	before := emu.Throttled()
	r := &Runner{Source: pacedSource(t, 20, 200), Sink: newSink(t), Concurrency: 4, Retry: RetryPolicy{Attempts: 1}}
	for _, res := range r.Run(context.Background(), jobsIn(40)) {
		if res.Err != nil {
			t.Fatalf("%s: %v", res.Job.Account.Name, res.Err)
		}
	}
	if n := emu.Throttled() - before; n != 0 {
		t.Fatalf("%d answers 429: the headers did not slow keysync down", n)
	}
}
