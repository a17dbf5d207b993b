package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// Bounds of the flood tests: attackers, the probes sent while they run,
// and how long one probe may take. A probe the flood starves of every
// connection is closed after floodAdmitWait or answered 503 at once, so
// it fails whatever the bound; the bound only ends a probe that would
// hang, on a machine however busy.
const (
	floodConns  = 300
	floodProbes = 16
	probeBound  = 30 * time.Second
)

// The test binary is also the probing process of the flood tests.
func init() { testenv.RunHelper() }

// bigAnswer is a /metrics answer far larger than the sockets' buffers.
var bigAnswer = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	chunk := []byte(strings.Repeat("keysync_padding 1\n", 4096))
	for range (64 << 20) / len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
})

// TestProbesSurviveFloods: while 300 connections from the probes' own
// address hold, trickle or flood the webhook (or leave /metrics
// unread), every /healthz and /readyz on a new connection is answered
// 200, and no flood makes keysync sync anything.
func TestProbesSurviveFloods(t *testing.T) {
	const hook = "/events/eventgrid"
	tests := []struct {
		name string
		a    testenv.Attack
		// check says what the server must have done with the flood.
		check func(e *eventsEnv, obs *countObserver) error
	}{
		{"headers never finished", testenv.HalfOpen(hook), func(_ *eventsEnv, obs *countObserver) error {
			return nonzero("connections evicted", obs.evicted.Load())
		}},
		{"nothing sent", testenv.Silent, func(_ *eventsEnv, obs *countObserver) error {
			return nonzero("connections evicted", obs.evicted.Load())
		}},
		{"webhook body trickled", testenv.Trickle(hook), func(e *eventsEnv, _ *countObserver) error {
			return nonzero("deliveries refused", e.h.Counts()[outUnauthorized])
		}},
		{"unauthenticated deliveries", testenv.Requests(http.MethodPost, hook, "[]"), func(e *eventsEnv, _ *countObserver) error {
			return nonzero("deliveries refused", e.h.Counts()[outUnauthorized])
		}},
		{"metrics answers unread", testenv.UnreadAnswer("/metrics"), func(_ *eventsEnv, obs *countObserver) error {
			return nonzero("requests shed", obs.shed.Load())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, obs := newEventsEnv(t, nil), &countObserver{}
			e.srv.Observer, e.srv.Metrics = obs, bigAnswer
			addr := startFloodServer(t, e.srv)
			opened, stop := testenv.RunAttack(floodConns, addr, tt.a)
			waitFor(t, "the attackers' connections", func() bool { return opened.Load() >= floodConns })
			failures := probeDuringFlood(t, addr)
			t.Logf("%d attacks; %d connections refused, %d evicted, %d requests shed", opened.Load(), obs.refused.Load(), obs.evicted.Load(), obs.shed.Load())
			stop()
			for _, f := range failures {
				t.Error(f)
			}
			if err := tt.check(e, obs); err != nil {
				t.Error(err)
			}
			assertNothingSynced(t, e)
		})
	}
}

// A request of each kind that anyone who reaches the port can send: its
// answer small, large (bigAnswer) and a refused delivery.
const (
	getHealthz   = "GET /healthz HTTP/1.1\r\nHost: keysync\r\n\r\n"
	getMetrics   = "GET /metrics HTTP/1.1\r\nHost: keysync\r\n\r\n"
	postDelivery = "POST /events/eventgrid HTTP/1.1\r\nHost: keysync\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"
)

// TestProbesSurvivePipelinedUnreadAnswers: MaxConns connections pipeline
// requests through a tiny receive window and never read an answer. Once
// the attack has taken all it can (each connection held and serving, or
// closed by the server), every /healthz on a new connection is answered
// 200. Pipelined /healthz used to take every slot: each connection
// serving (the server blocked writing an answer, more requests behind
// it) for up to WriteTimeout, never evicted, and probes exempt from
// MaxHandlers, so every probe was refused.
func TestProbesSurvivePipelinedUnreadAnswers(t *testing.T) {
	for _, tt := range []struct{ name, request string }{
		{"probes", getHealthz},
		{"metrics", getMetrics},
		{"deliveries", postDelivery},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEventsEnv(t, nil)
			e.srv.Metrics = bigAnswer
			addr := startFloodServer(t, e.srv)
			maxConns, ctx := e.srv.limits().MaxConns, t.Context()
			attack, ended := testenv.PipelinedUnread(tt.request), new(atomic.Int64)
			for range maxConns {
				go func() { attack(ctx, addr, new(atomic.Int64)); ended.Add(1) }()
			}
			waitForWithin(t, "the attack to take all it can", 90*time.Second, func() bool {
				held, serving := heldStates(e.srv.pool)
				return serving == held && held+int(ended.Load()) == maxConns
			})
			for i := range 4 {
				if code, err := testenv.Probe(addr, "/healthz", probeBound); code != http.StatusOK {
					t.Errorf("probe %d: status %d, %v", i, code, err)
				}
			}
			assertNothingSynced(t, e)
		})
	}
}

// probeDuringFlood sends floodProbes probes, alternately /healthz and
// /readyz, one after another from a process of its own, as a kubelet
// does (testenv.ProbeFrom); it returns the failures that would fail a
// kubelet's probe (failureThreshold 3 by default): two probes in a row
// not answered 200, or more than one in eight. A probe from the
// attackers' own process could wait on their goroutines between its
// connect and its request, looking like one of them.
//
// One failure alone is what the silent-flood defense costs: while the
// connections whose clients have sent nothing hold half the slots (here,
// attackers reconnecting, each silent for the moment after its connect),
// a probe whose client has not sent its request yet looks like them and
// may be evicted for a client that has spoken. Beside a CPU hog, under
// the race detector, that was one probe in about a thousand.
func probeDuringFlood(t *testing.T, addr string) []string {
	var failures []string
	results := testenv.ProbeFrom(t, addr, floodProbes)
	failed := 0
	for i, p := range results {
		if p.Status == http.StatusOK {
			continue
		}
		failed++
		if i > 0 && results[i-1].Status != http.StatusOK {
			failures = append(failures, fmt.Sprintf("probes %d and %d failed in a row: %s: status %d, %s; %s: status %d, %s",
				i-1, i, results[i-1].Path, results[i-1].Status, results[i-1].Err, p.Path, p.Status, p.Err))
		}
	}
	if failed > len(results)/8 {
		failures = append(failures, fmt.Sprintf("%d of %d probes failed", failed, len(results)))
	}
	return failures
}

func nonzero(what string, n int64) error {
	if n == 0 {
		return fmt.Errorf("no %s: the flood did not reach the bound it tests", what)
	}
	return nil
}

// assertNothingSynced: no delivery queued a sync, and none ran.
func assertNothingSynced(t *testing.T, e *eventsEnv) {
	t.Helper()
	c := e.h.Counts()
	if n := c[outQueued] + c[outCoalesced] + c[outBackoff]; n != 0 || e.sched.TargetsPending() != 0 || e.syncer.calls.Load() != 0 {
		t.Fatalf("the flood queued %d syncs, %d pending, %d ran", n, e.sched.TargetsPending(), e.syncer.calls.Load())
	}
}

// floodAdmitWait is how long a new connection may wait for a slot in the
// tests whose verdict is that every probe is answered under a flood: a
// bound meaningless under load, so that a probe fails only if the flood
// starves it of every slot, not because a busy machine served the
// connections ahead of it slowly (a one-second wait did, beside a CPU
// hog, under the race detector). TestProbesSurviveReconnectingFlood
// measures the default wait's own speed.
const floodAdmitWait = 20 * time.Second

// startFloodServer is startServer with floodAdmitWait.
func startFloodServer(t *testing.T, s *Server) string {
	t.Helper()
	s.Limits.AdmitWait = floodAdmitWait
	return startServer(t, s)
}

// startServer starts s on a loopback port; it is shut down at the end.
func startServer(t *testing.T, s *Server) string {
	t.Helper()
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return addr.String()
}

// TestProbesSurviveReconnectingFlood: attackers in a process of their
// own, each opening a new connection as soon as the server closes its
// last one, silent or sending headers that never end, twice as many as
// the pool holds; probes from a third process, as a kubelet's are, are
// each answered 200, and the median within admitWait, the longest a
// connection may wait for a slot. Accept used to hold one connection at
// a time for up to admitWait while no slot was free, so the kernel queued
// each probe behind reconnecting attackers for seconds. The bound is on
// the median, a count of probes, not on any one: a busy machine may delay
// one probe, never most of them.
func TestProbesSurviveReconnectingFlood(t *testing.T) {
	e, obs := newEventsEnv(t, nil), &countObserver{}
	e.srv.Observer = obs
	addr := startServer(t, e.srv)
	n := 2 * e.srv.limits().MaxConns
	stop := testenv.AttackFrom(t, addr,
		testenv.ProcessAttack{Kind: "silent", N: n / 2},
		testenv.ProcessAttack{Kind: "halfopen", Path: "/events/eventgrid", N: n / 2})
	waitFor(t, "the pool full and evicting", func() bool { return obs.evicted.Load() >= int64(n) })
	probes := testenv.ProbeFrom(t, addr, floodProbes)
	opened := stop()
	var took []time.Duration
	for i, p := range probes {
		if p.Status != http.StatusOK {
			t.Errorf("probe %d, %s: status %d, %s", i, p.Path, p.Status, p.Err)
		}
		took = append(took, p.Took)
	}
	slices.Sort(took)
	t.Logf("%d attacking connections; %d refused, %d evicted; probes took %v", opened, obs.refused.Load(), obs.evicted.Load(), took)
	if median := took[len(took)/2]; median > admitWait {
		t.Errorf("the median probe took %v, more than admitWait (%v): probes wait behind attackers", median, admitWait)
	}
	assertNothingSynced(t, e)
}
