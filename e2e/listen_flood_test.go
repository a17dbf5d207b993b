package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// probeBound bounds one probe under a flood: a probe the flood starves
// waits until the flood ends, however long; a loaded machine's slowness
// stays well under it.
const probeBound = 10 * time.Second

// probeShimEnv makes this test binary a kubelet of its own: it probes the
// address its first argument names, /healthz and /readyz in turn, as many
// times as its second says (testenv.Probe), and prints a line for each.
// The attackers run in the test's process, where their goroutines could
// starve a probe between its connect and its request for longer than the
// listen port lets a new connection stay silent (500 ms): the port would
// rightly take it for an attacker. A kubelet is a process of its own.
const probeShimEnv = "KEYSYNC_E2E_PROBE_SHIM"

func init() {
	if os.Getenv(probeShimEnv) == "1" {
		os.Exit(probeShim(os.Args[1:]))
	}
}

func probeShim(args []string) int {
	var n int
	if len(args) != 2 {
		return 2
	}
	if _, err := fmt.Sscan(args[1], &n); err != nil {
		return 2
	}
	for i := range n {
		path := []string{"/healthz", "/readyz"}[i%2]
		code, err := testenv.Probe(args[0], path, probeBound)
		fmt.Printf("probe %d, %s: status %d, %v\n", i, path, code, err)
	}
	return 0
}

// probes runs n probes of addr from a process of its own (probeShimEnv)
// and returns the lines of those not answered 200.
func probes(t *testing.T, addr string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*probeBound+waitFloor)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], addr, fmt.Sprint(n))
	cmd.Env = []string{probeShimEnv + "=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the probing process: %v\n%s", err, out)
	}
	var bad []string
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		if !strings.Contains(line, "status 200, <nil>") {
			bad = append(bad, line)
		}
	}
	if len(lines) != n {
		bad = append(bad, fmt.Sprintf("%d probes made, want %d", len(lines), n))
	}
	return bad
}

// TestListenProbesUnderFlood: while 300 connections from the probes' own
// loopback address hold the webhook with headers that never end, trickle
// a delivery's body, or post unauthenticated deliveries of a regenerate
// event as fast as they are answered, every /healthz and /readyz of the
// daemon on its listen address, asked from a process of its own as a
// kubelet asks, is answered 200; and none of it makes
// keysync call ARM (issue #20: 130 such connections used to take /healthz
// down).
func TestListenProbesUnderFlood(t *testing.T) {
	shared(t)
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
		for _, failed := range probes(t, d.addr, 10) {
			t.Errorf("%s: %s", at.name, failed)
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
