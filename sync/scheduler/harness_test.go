package scheduler

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keysync/keysync/sync/runner"
)

// harness runs a Scheduler on a fake clock with a fakeSyncer, and steps it
// one event at a time: after each step the loop has finished its turn and
// waits, and every sync it started is held by the syncer.
type harness struct {
	t      *testing.T
	s      *Scheduler
	clock  *fakeClock
	syncer *fakeSyncer
	obs    *recorder
	stop   context.CancelFunc
	ran    chan struct{}
}

// patience bounds every wait of these tests for something that must
// happen. The waits return as soon as it does, so the bound only ends a
// test that would wait forever; a busy machine never reaches it.
const patience = time.Minute

// testBackoff's jitter always picks the ceiling: 30s, 1m, 2m, 4m.
var testBackoff = runner.RetryPolicy{Base: 30 * time.Second, Max: 4 * time.Minute, Jitter: func(n int64) int64 { return n - 1 }}

// start runs a scheduler over accts from t0; zero options get defaults.
func start(t *testing.T, opts Options, accts ...Account) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(t0), syncer: newFakeSyncer(), obs: newRecorder(), ran: make(chan struct{})}
	opts.Clock, opts.Observer = h.clock, h.obs
	opts.Concurrency = cmp.Or(opts.Concurrency, 8)
	opts.ShutdownGrace = cmp.Or(opts.ShutdownGrace, time.Minute)
	if opts.Backoff.Base == 0 {
		opts.Backoff = testBackoff
	}
	h.s = New(opts, h.syncer, accts)
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { defer close(h.ran); _ = h.s.Run(ctx) }()
	t.Cleanup(h.shutdown)
	h.waitTurn(0)
	return h
}

// shutdown stops the loop, letting the grace run out on the fake clock.
func (h *harness) shutdown() {
	h.stop()
	deadline := time.Now().Add(patience)
	for {
		select {
		case <-h.ran:
			return
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the loop did not stop")
		}
		h.clock.Advance(h.s.opts.ShutdownGrace)
		time.Sleep(time.Millisecond)
	}
}

// act does something that wakes the loop once, and waits for its turn.
func (h *harness) act(f func()) {
	h.t.Helper()
	resets, _ := h.clock.state()
	f()
	h.waitTurn(resets)
}

// advance moves the clock by d and waits for the turn it may cause.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	resets, _ := h.clock.state()
	if h.clock.Advance(d) {
		h.waitTurn(resets)
	}
}

// answer ends a held sync with err and waits for the loop to settle it.
func (h *harness) answer(c *call, err error) {
	h.t.Helper()
	h.act(func() { c.answer <- err })
}

// waitTurn waits until the loop has turned after the resets-th turn and is
// calm: no timer fired unread, no trigger unread, every sync in flight held.
func (h *harness) waitTurn(resets int) {
	h.t.Helper()
	h.poll("the loop to turn", func() bool {
		n, pending := h.clock.state()
		return n > resets && !pending && len(h.s.trigger) == 0 && h.inFlight() == h.syncer.held()
	})
}

func (h *harness) inFlight() int { return int(h.s.inFlight.Load()) }

// poll waits for cond, against a deadline.
func (h *harness) poll(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// next is the next sync the loop started; the loop is calm, so it is
// there already or never comes.
func (h *harness) next() *call {
	h.t.Helper()
	select {
	case c := <-h.syncer.calls:
		return c
	default:
		h.t.Fatalf("no sync started; started so far: %v", h.syncer.started())
		return nil
	}
}

// none fails if the loop started a sync no one has read.
func (h *harness) none(why string) {
	h.t.Helper()
	select {
	case c := <-h.syncer.calls:
		h.t.Fatalf("%s: %s synced at +%v", why, c.job.Account.Name, h.clock.Now().Sub(t0))
	default:
	}
}

// expect reads the next syncs, which must be of want's accounts in any
// order, and returns them by account name.
func (h *harness) expect(what string, want ...string) map[string]*call {
	h.t.Helper()
	calls := map[string]*call{}
	var got []string
	for range want {
		c := h.next()
		calls[c.job.Account.Name] = c
		got = append(got, c.job.Account.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		h.t.Fatalf("%s: %v synced, want %v", what, got, want)
	}
	return calls
}
