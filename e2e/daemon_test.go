package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// TestDaemonRotationReachesVaultWithinOneTick: a key regenerated in Azure is
// in Vault within one one-second tick (the sync in flight may still read
// the old key; the next reads the new one); /healthz and /readyz say so.
func TestDaemonRotationReachesVaultWithinOneTick(t *testing.T) {
	shared(t)
	a := newAccount(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) })
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	rotated := time.Now()
	a.regenerate(t, "primary")
	p, _ := a.keys(t)
	d.waitFor("the rotated key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
	landed := versionTime(t, a.path)
	if n := requestsBetween(a, rotated, landed); n > 2 {
		t.Errorf("the rotated key reached Vault after %d listKeys requests, more than one tick's", n)
	}
	if v := readV2(t, a.path).version; v != 2 {
		t.Errorf("version %d after one rotation, want 2 (unchanged ticks must not write)", v)
	}
	if code, body := d.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d %s", code, body)
	}
	d.waitFor("/readyz to say ready", 5*time.Second, func() bool {
		code, body := d.get("/readyz")
		return code == http.StatusOK && strings.Contains(body, `"ready":true`)
	})
	if code, _ := d.stop(15 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// requestsBetween counts a's listKeys requests that arrived from from
// until to.
func requestsBetween(a account, from, to time.Time) int {
	n := 0
	for _, at := range emu.RequestTimes(a.res()) {
		if !at.Before(from) && !at.After(to) {
			n++
		}
	}
	return n
}

// TestDaemonThrottledSubscriptionPauses: a 429 SubscriptionRequestsThrottled
// with Retry-After 10 holds back every account of that subscription for
// 10 s, while another subscription keeps syncing.
func TestDaemonThrottledSubscriptionPauses(t *testing.T) {
	shared(t)
	const pause = 10 * time.Second
	subA, subB := fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", seq.Add(1)), fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", seq.Add(1))
	a1, a2, b1 := newAccountIn(t, subA), newAccountIn(t, subA), newAccountIn(t, subB)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a1, a2, b1) })
	d.waitFor("the first syncs", 10*time.Second, func() bool {
		return readV2(t, a1.path) != nil && readV2(t, a2.path) != nil && readV2(t, b1.path) != nil
	})
	a1.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 429, Code: "SubscriptionRequestsThrottled",
		Message: "Number of write requests for subscription exceeded the limit.", RetryAfter: int(pause / time.Second), Times: 1})
	before := a1.requests()
	d.waitFor("the throttled request", 5*time.Second, func() bool { return a1.requests() > before })
	throttledAt := emu.RequestTimes(a1.res())[before]
	d.waitFor("a1 to sync again", 10*time.Second, func() bool { return a1.requests() > before+1 })

	if gap := emu.RequestTimes(a1.res())[before+1].Sub(throttledAt); gap < pause {
		t.Errorf("a1 retried %v after a 429 with Retry-After %v", gap, pause)
	}
	// a2 ticks with a1: the one request of a sync it started before
	// keysync had read the 429 may arrive after it. No other may.
	if n := requestsBetween(a2, throttledAt.Add(time.Nanosecond), throttledAt.Add(pause)); n > 1 {
		t.Errorf("a2, in the throttled subscription, was called %d times during the pause, want at most the one in flight", n)
	}
	if bDuring := requestsBetween(b1, throttledAt, throttledAt.Add(pause)); bDuring < 2 {
		t.Errorf("the other subscription synced %d times during the pause, want at least 2", bDuring)
	}
	if d.logLines("subscription throttled", subA) != 1 {
		t.Errorf("want one log line for the pause:\n%s", d.stderr.String())
	}
}

// TestDaemonPermanentErrorLogsOnce: a 403 is logged once over many ticks, is
// not retried faster than the schedule, makes the account overdue in
// /readyz, and does not hold back the healthy account.
func TestDaemonPermanentErrorLogsOnce(t *testing.T) {
	shared(t)
	good, bad := newAccount(t), newAccount(t)
	bad.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "The client has no authorization."})
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, top, good, bad) })
	d.waitFor("four ticks of the failing account", 15*time.Second, func() bool { return bad.requests() >= 5 })
	if n := d.logLines("level=ERROR", "account="+bad.name); n != 1 {
		t.Errorf("%d error lines for the failing account, want 1:\n%s", n, d.stderr.String())
	}
	// Both accounts tick on the same schedule: a permanent failure gets no
	// retries of its own, so it is called no more often than the healthy
	// one has ticks, synced or skipped while its sync ran long.
	b := bad.requests()
	if g, skipped := good.requests(), int(d.metric(`keysync_ticks_skipped_total{account="`+good.name+`"}`)); b > g+skipped+1 {
		t.Errorf("the failing account was called %d times, the healthy one %d (%d ticks skipped)", b, g, skipped)
	}
	if readV2(t, good.path) == nil {
		t.Error("the healthy account was not synced")
	}
	code, _, body := d.call("GET", "/readyz", tok)
	var r struct {
		Ready   bool
		Overdue []string
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz %d: the body is not JSON: %v\n%s", code, err, body)
	}
	// The healthy account may be late too on a loaded machine; the failing
	// one must be named.
	if code != http.StatusServiceUnavailable || r.Ready || !slices.Contains(r.Overdue, bad.name) {
		t.Errorf("/readyz %d %s, want 503 naming %s as overdue", code, body, bad.name)
	}
	// The account recovers once the fault is gone, and says so once.
	emu.ClearFaults(bad.res())
	d.waitFor("the recovered account's secret", 5*time.Second, func() bool { return readV2(t, bad.path) != nil })
	d.waitFor("the recovery log line", 2*time.Second, func() bool { return d.logLines("account recovered", "account="+bad.name) == 1 })
}

// TestDaemonReload: SIGHUP with a broken file keeps the old config running;
// SIGHUP with an added account starts syncing it.
func TestDaemonReload(t *testing.T) {
	shared(t)
	a, b := newAccount(t), newAccount(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) })
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })

	good := daemonConfig(d.addr, "", a, b)
	d.writeConfig(good + "\nconcurrency = \"many\"\n")
	d.signal(syscall.SIGHUP)
	d.waitFor("the rejected reload", 5*time.Second, func() bool { return d.logLines("reload rejected") == 1 })
	a.regenerate(t, "secondary")
	_, s := a.keys(t)
	d.waitFor("the old config to keep syncing", 5*time.Second, func() bool { return fieldOf(t, a.path, "secondary") == s })
	if b.requests() != 0 {
		t.Fatal("the account of the broken file was synced")
	}

	d.writeConfig(good)
	d.signal(syscall.SIGHUP)
	d.waitFor("the added account's secret", 5*time.Second, func() bool { return readV2(t, b.path) != nil })
	if d.logLines("configuration reloaded", "accounts=2") != 1 {
		t.Errorf("reload not logged:\n%s", d.stderr.String())
	}
}

// TestDaemonSIGTERMDuringSlowSync: SIGTERM while a slow sync is in flight
// waits for it to finish its write, then exits 0 within the grace period.
// The emulator holds the sync's request until the test releases it, after
// the daemon has said it waits: no latency races the test's steps.
func TestDaemonSIGTERMDuringSlowSync(t *testing.T) {
	shared(t)
	a := newAccount(t)
	a.inject(armemu.Fault{Kind: armemu.FaultHold, Times: 1})
	d := startDaemon(t, func(addr string) string {
		cfg := strings.Replace(daemonConfig(addr, "", a), `shutdown_grace = "10s"`, `shutdown_grace = "60s"`, 1)
		return withAzureTimeout(cfg, "60s")
	})
	d.waitFor("the held request", 5*time.Second, func() bool { return emu.Held(a.res()) == 1 })
	// Ticks pass while it runs: they are skipped, and counted.
	skipped := `keysync_ticks_skipped_total{account="` + a.name + `"}`
	d.waitFor("a skipped tick", 5*time.Second, func() bool { return d.metric(skipped) >= 1 })
	if a.requests() != 1 || d.syncs(a.name) != 0 {
		t.Fatalf("the tick was skipped after the slow sync, not during it (%d requests)", a.requests())
	}
	start := time.Now()
	d.signal(syscall.SIGTERM)
	d.waitFor("the daemon to wait for its in-flight sync", 5*time.Second, func() bool {
		return d.logLines("stopping: waiting for in-flight syncs") == 1
	})
	emu.Release(a.res())
	code, took := d.exit(12*time.Second), time.Since(start)
	if code != 0 {
		t.Fatalf("exit code %d\n%s", code, d.stderr.String())
	}
	got := readV2(t, a.path)
	p, s := a.keys(t)
	if got == nil || got.data["primary"] != p || got.data["secondary"] != s || got.meta["managed-by"] != "keysync" {
		t.Fatalf("in-flight sync did not complete its write before exit (took %v)", took)
	}
	if a.requests() != 1 {
		t.Errorf("%d requests: a new sync started after SIGTERM\n%s", a.requests(), d.stderr.String())
	}
}

// TestDaemonTriggers: with no sync on start and an hourly schedule, only
// SIGUSR1 and POST /sync make accounts sync.
func TestDaemonTriggers(t *testing.T) {
	shared(t)
	a := newAccount(t)
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string { return idleDaemonConfig(addr, top, a) })
	// The scheduler has the account and has decided: its next run is a
	// day away, not now.
	d.waitFor("the account scheduled a day away", 5*time.Second, func() bool {
		st, ok := d.statusOf(tok, a.name)
		return ok && st.LastResult == "" && st.scheduledLater()
	})
	if a.requests() != 0 {
		t.Fatal("synced without a trigger")
	}
	d.signal(syscall.SIGUSR1)
	d.waitFor("a sync after SIGUSR1", 5*time.Second, func() bool { return d.syncs(a.name) == 1 })
	// Had anything synced before the signal, there would be a second
	// request, or the signal would have found a full sync pending.
	if a.requests() != 1 || d.logLines("already pending or running") != 0 {
		t.Fatalf("%d requests after one SIGUSR1 sync: something synced without a trigger", a.requests())
	}
	if code, _, body := d.call("POST", "/sync", tok); code != http.StatusAccepted || !strings.Contains(body, "started") {
		t.Fatalf("POST /sync: %d %s", code, body)
	}
	d.waitFor("a sync after POST /sync", 5*time.Second, func() bool { return d.syncs(a.name) == 2 })
	if a.requests() != 2 {
		t.Errorf("%d requests after two triggered syncs", a.requests())
	}
}

// scheduledLater reports whether the account is idle and next runs more
// than an hour ahead: nothing is owed to it before then.
func (s statusAccount) scheduledLater() bool {
	return !s.Running && s.NextRun.After(time.Now().Add(time.Hour))
}

// statusOf is one account's entry in GET /status.
func (d *daemonProc) statusOf(tok, name string) (statusAccount, bool) {
	d.t.Helper()
	code, _, body := d.call("GET", "/status", tok)
	var reply struct{ Accounts []statusAccount }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
		d.t.Fatalf("GET /status: %d %s", code, body)
	}
	for _, s := range reply.Accounts {
		if s.Account == name {
			return s, true
		}
	}
	return statusAccount{}, false
}

func grep(text, part string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, part) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
