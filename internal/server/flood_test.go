package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// Bounds of the flood tests: attackers, the probes sent while they run,
// and how long one probe may take. A probe the flood starves of every
// connection is closed after admitWait (1 s) or answered 503 at once, so
// it fails whatever the bound; the bound only ends a probe that would
// hang. It is 30 s because the flood makes the machine busy: the pool
// admits one connection at a time, each waiting up to admitWait, and on a
// loaded machine a probe queued behind reconnecting attackers took over
// 5 s.
const (
	floodConns  = 300
	floodProbes = 16
	probeBound  = 30 * time.Second
)

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
			addr := startServer(t, e.srv)
			opened, stop := testenv.RunAttack(floodConns, addr, tt.a)
			waitFor(t, "the attackers' connections", func() bool { return opened.Load() >= floodConns })
			failures := probeDuringFlood(addr)
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
			addr := startServer(t, e.srv)
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
// /readyz, one after another; it returns each that was not answered 200.
func probeDuringFlood(addr string) []string {
	var failures []string
	for i := range floodProbes {
		path := []string{"/healthz", "/readyz"}[i%2]
		if code, err := testenv.Probe(addr, path, probeBound); code != http.StatusOK {
			failures = append(failures, fmt.Sprintf("probe %d, %s: status %d, %v", i, path, code, err))
		}
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
