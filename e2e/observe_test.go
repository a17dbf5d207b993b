package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keysync/keysync/internal/armemu"
)

// TestDaemonNotify: a NOTIFY_SOCKET receives READY=1 once the scheduler
// runs, WATCHDOG=1 pings, RELOADING=1 on SIGHUP, and STOPPING=1 on SIGTERM.
func TestDaemonNotify(t *testing.T) {
	shared(t)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	a := newAccount(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", a) },
		"NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=300000")
	expect := func(state string) {
		t.Helper()
		deadline := time.After(waitFloor)
		for {
			select {
			case m := <-got:
				if strings.Contains(m, state) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s on the notify socket", state)
			}
		}
	}
	expect("READY=1")
	expect("WATCHDOG=1")
	d.signal(syscall.SIGHUP)
	expect("RELOADING=1")
	expect("READY=1")
	if code, _ := d.stop(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	expect("STOPPING=1")
}

// TestDaemonMetrics: /metrics parses, and its counters match what the
// emulator and Vault saw. No key appears in it.
func TestDaemonMetrics(t *testing.T) {
	shared(t)
	good, bad := newAccount(t), newAccount(t)
	bad.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "no"})
	start := time.Now()
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, "", good, bad) })
	d.waitFor("three ticks", 10*time.Second, func() bool { return good.requests() >= 3 && bad.requests() >= 3 })
	// A sync may be in flight while the counts are compared: the emulator
	// counts a request before keysync counts its sync. Counted before and
	// after /metrics answers, the requests bound the syncs it shows.
	goodBefore, badBefore := float64(good.requests()), float64(bad.requests())
	_, body := d.get("/metrics")
	goodAfter, badAfter := float64(good.requests()), float64(bad.requests())
	assertNoKeys(t, body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	goodSyncs := value(mf, "keysync_sync_total", "account", good.name, "result", "create") + value(mf, "keysync_sync_total", "account", good.name, "result", "unchanged")
	if value(mf, "keysync_sync_total", "account", good.name, "result", "create") != 1 {
		t.Errorf("create count %v, want 1", value(mf, "keysync_sync_total", "account", good.name, "result", "create"))
	}
	if goodSyncs < goodBefore-1 || goodSyncs > goodAfter {
		t.Errorf("keysync_sync_total for %s is %v, the emulator saw %v to %v requests", good.name, goodSyncs, goodBefore, goodAfter)
	}
	failed := value(mf, "keysync_sync_total", "account", bad.name, "result", "failed")
	if failed < badBefore-1 || failed > badAfter {
		t.Errorf("failed syncs %v, the emulator saw %v to %v requests", failed, badBefore, badAfter)
	}
	// One scrape is not one instant: the registry's families (ARM and
	// Vault requests, the duration histogram) are read before the
	// per-account series, and a sync may end between the two reads; as
	// many as the emulator saw requests while /metrics answered, and the
	// two in flight when it was asked.
	between := (goodAfter - goodBefore) + (badAfter - badBefore) + 2
	if got := value(mf, "keysync_arm_requests_total", "code", "403"); got < failed-between || got > failed+1 {
		t.Errorf("ARM 403s %v, failed syncs %v (%v may have ended between the reads)", got, failed, between)
	}
	if got := value(mf, "keysync_vault_requests_total", "op", "write", "code", "200"); got != 1 {
		t.Errorf("Vault data writes %v, want 1 (one create, then nothing changed)", got)
	}
	if got := value(mf, "keysync_vault_requests_total", "op", "read", "code", "200"); got < goodSyncs-2 {
		t.Errorf("Vault reads %v for %v syncs", got, goodSyncs)
	}
	if ts := value(mf, "keysync_last_success_timestamp_seconds", "account", good.name); ts < float64(start.Unix()) {
		t.Errorf("last success %v is before the start", ts)
	}
	if has(mf, "keysync_last_success_timestamp_seconds", "account", bad.name) {
		t.Error("a failing account has a last success")
	}
	if value(mf, "keysync_build_info") != 1 || value(mf, "keysync_account_backoff_seconds", "account", good.name) != 0 {
		t.Error("build info or backoff gauge wrong")
	}
	if h := mf["keysync_sync_duration_seconds"].GetMetric()[0].GetHistogram(); float64(h.GetSampleCount()) < goodSyncs+failed-between {
		t.Errorf("duration histogram has %d samples for %v syncs (%v may have ended between the reads)", h.GetSampleCount(), goodSyncs+failed, between)
	}
}

// value sums the samples of family name whose labels match pairs.
func value(mf map[string]*dto.MetricFamily, name string, pairs ...string) float64 {
	var sum float64
	for _, m := range matching(mf, name, pairs...) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		}
	}
	return sum
}

func has(mf map[string]*dto.MetricFamily, name string, pairs ...string) bool {
	return len(matching(mf, name, pairs...)) > 0
}

func matching(mf map[string]*dto.MetricFamily, name string, pairs ...string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range mf[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(pairs); i += 2 {
			ok = ok && labels[pairs[i]] == pairs[i+1]
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}
