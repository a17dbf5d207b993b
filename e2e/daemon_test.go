package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/armemu"
)

// TestDaemonRotationReachesVaultWithinOneTick: a key regenerated in Azure is
// in Vault within one one-second tick; /healthz and /readyz say so.
func TestDaemonRotationReachesVaultWithinOneTick(t *testing.T) {
	a := newAccount(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) })
	d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	a.regenerate(t, "primary")
	rotated := time.Now()
	p, _ := a.keys(t)
	d.waitFor("the rotated key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
	if took := time.Since(rotated); took > 2500*time.Millisecond {
		t.Errorf("rotation took %v to reach Vault, more than one tick", took)
	}
	if v := readV2(t, a.path).version; v != 2 {
		t.Errorf("version %d after one rotation, want 2 (unchanged ticks must not write)", v)
	}
	if code, body := d.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := d.get("/readyz"); code != http.StatusOK || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz %d %s", code, body)
	}
	if code, _ := d.stop(15 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestDaemonThrottledSubscriptionPauses: a 429 SubscriptionRequestsThrottled
// with Retry-After 3 holds back every account of that subscription for 3 s,
// while another subscription keeps syncing.
func TestDaemonThrottledSubscriptionPauses(t *testing.T) {
	subA, subB := "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
	a1, a2, b1 := newAccountIn(t, subA), newAccountIn(t, subA), newAccountIn(t, subB)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a1, a2, b1) })
	d.waitFor("the first syncs", 10*time.Second, func() bool {
		return readV2(t, a1.path) != nil && readV2(t, a2.path) != nil && readV2(t, b1.path) != nil
	})
	a1.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 429, Code: "SubscriptionRequestsThrottled",
		Message: "Number of write requests for subscription exceeded the limit.", RetryAfter: 3, Times: 1})
	before := a1.requests()
	d.waitFor("the throttled request", 5*time.Second, func() bool { return a1.requests() > before })
	throttledAt := emu.RequestTimes(a1.res())[before]
	d.waitFor("a1 to sync again", 10*time.Second, func() bool { return a1.requests() > before+1 })

	if gap := emu.RequestTimes(a1.res())[before+1].Sub(throttledAt); gap < 3*time.Second {
		t.Errorf("a1 retried %v after a 429 with Retry-After 3", gap)
	}
	// a2 ticks in the same second as a1: a request it sent before keysync
	// had read the 429 may arrive just after it. Nothing may come later.
	for _, at := range emu.RequestTimes(a2.res()) {
		if at.After(throttledAt.Add(200*time.Millisecond)) && at.Before(throttledAt.Add(3*time.Second)) {
			t.Errorf("a2, in the throttled subscription, was called %v after the 429", at.Sub(throttledAt))
		}
	}
	var bDuring int
	for _, at := range emu.RequestTimes(b1.res()) {
		if at.After(throttledAt) && at.Before(throttledAt.Add(3*time.Second)) {
			bDuring++
		}
	}
	if bDuring < 2 {
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
	good, bad := newAccount(t), newAccount(t)
	bad.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "The client has no authorization."})
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, top, good, bad) })
	d.waitFor("four ticks of the failing account", 15*time.Second, func() bool { return bad.requests() >= 5 })
	if n := d.logLines("level=ERROR", "account="+bad.name); n != 1 {
		t.Errorf("%d error lines for the failing account, want 1:\n%s", n, d.stderr.String())
	}
	// Both accounts tick on the same schedule: a permanent failure gets no
	// retries of its own, so it is called no more often than the healthy one.
	if b, g := bad.requests(), good.requests(); b > g+1 {
		t.Errorf("the failing account was called %d times, the healthy one %d", b, g)
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
	if code != http.StatusServiceUnavailable || r.Ready || len(r.Overdue) != 1 || r.Overdue[0] != bad.name {
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
func TestDaemonSIGTERMDuringSlowSync(t *testing.T) {
	a := newAccount(t)
	emu.SetLatency(2500 * time.Millisecond) // under the config's 3 s request timeout
	defer emu.SetLatency(0)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) })
	d.waitFor("the slow request", 5*time.Second, func() bool { return a.requests() == 1 })
	// Ticks pass while it runs: they are skipped, and counted.
	skipped := `keysync_ticks_skipped_total{account="` + a.name + `"}`
	d.waitFor("a skipped tick", 5*time.Second, func() bool { return d.metric(skipped) >= 1 })
	if a.requests() != 1 || d.syncs(a.name) != 0 {
		t.Fatalf("the tick was skipped after the slow sync, not during it (%d requests)", a.requests())
	}
	code, took := d.stop(12 * time.Second)
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
	a := newAccount(t)
	top, tok := apiToken(t)
	cfg := func(addr string) string {
		return strings.Replace(daemonConfig(addr, "sync_on_start = false\n"+top, a), `"@every 1s"`, `"@hourly"`, 1)
	}
	d := startDaemon(t, cfg)
	// The scheduler has the account and has decided: its next run is the
	// hourly tick, not now.
	d.waitFor("the account scheduled on the hour", 5*time.Second, func() bool {
		st, ok := d.statusOf(tok, a.name)
		return ok && st.LastResult == "" && st.onTheHour()
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

// onTheHour reports whether the account is idle and next runs on an
// hourly tick still ahead: nothing is owed to it before then.
func (s statusAccount) onTheHour() bool {
	return !s.Running && s.NextRun.After(time.Now()) && s.NextRun.Minute() == 0 && s.NextRun.Second() == 0
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
