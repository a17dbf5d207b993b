package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// TestListenProbesUnderFlood: while 300 connections from the probes' own
// loopback address hold the webhook with headers that never end, trickle
// a delivery's body, or post unauthenticated deliveries of a regenerate
// event as fast as they are answered, every /healthz and /readyz of the
// daemon on its listen address is answered 200; and none of it makes
// keysync call ARM (issue #20: 130 such connections used to take /healthz
// down).
func TestListenProbesUnderFlood(t *testing.T) {
	a, b := newAccount(t), newAccount(t)
	top, secret := eventsSecret(t)
	d := eventsDaemon(t, top, a, b)
	d.waitFor("readiness", 10*time.Second, func() bool { code, _ := d.get("/readyz"); return code == http.StatusOK })
	before := a.requests()
	forged := string(jsonOf(t, []any{a.gridEvent("forged", regenerateOp)}))
	for _, at := range []struct {
		name   string
		attack testenv.Attack
	}{
		{"headers never finished", testenv.HalfOpen(eventsPath)},
		{"webhook body trickled", testenv.Trickle(eventsPath)},
		{"unauthenticated deliveries", testenv.Requests(http.MethodPost, eventsPath, forged)},
	} {
		opened, stop := testenv.RunAttack(300, d.addr, at.attack)
		d.waitFor(at.name+": the attackers' connections", 20*time.Second, func() bool { return opened.Load() >= 300 })
		for i := range 10 {
			path := []string{"/healthz", "/readyz"}[i%2]
			if code, err := testenv.Probe(d.addr, path, 2*time.Second); code != http.StatusOK {
				t.Errorf("%s: probe %d, %s: status %d, %v", at.name, i, path, code, err)
			}
		}
		stop()
		t.Logf("%s: %d attacks", at.name, opened.Load())
	}
	// A delivery with the secret for b, after the floods, is answered
	// after theirs: once b's sync is done, a's would have been too.
	if code, body := d.deliver("application/json", secret, jsonOf(t, []any{b.gridEvent("after-the-flood", regenerateOp)})); code != http.StatusOK {
		t.Fatalf("delivery for b after the floods: %d %s", code, body)
	}
	d.waitFor("b's event sync", 5*time.Second, func() bool { return d.syncs(b.name) == 2 })
	if n := a.requests() - before; n != 0 {
		t.Errorf("%d listKeys calls of a after the floods, want 0", n)
	}
	for _, series := range []string{"keysync_http_connections_evicted_total", `keysync_events_total{outcome="unauthorized",schema="eventgrid"}`} {
		if n := d.metric(series); n == 0 {
			t.Errorf("%s = 0: the floods did not reach the bound they test", series)
		}
	}
	if n := d.metric(`keysync_events_total{outcome="queued",schema="eventgrid"}`); n != 1 {
		t.Errorf("%v events queued a sync, want 1 (b's)", n)
	}
}
