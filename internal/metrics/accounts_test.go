package metrics

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// TestAccountSeries: the per-account series read as the client_golang
// vectors they replace did: a counter from its first increment, a gauge
// from its first Set, every series of an account gone after Removed.
func TestAccountSeries(t *testing.T) {
	m := New("test")
	now := time.Unix(1700000000, 0)
	m.Synced("a", runner.Result{Change: plan.Change{Action: plan.Create}}, now)
	m.Synced("a", runner.Result{}, now.Add(time.Hour))
	m.Synced("a", runner.Result{}, now.Add(2*time.Hour))
	m.Backoff("a", 0)
	m.Synced("b", runner.Result{Err: errors.New("boom")}, now)
	m.Backoff("b", 90*time.Second)
	m.Skipped("b")
	m.Synced("c", runner.Result{Change: plan.Change{Action: plan.Update, Rotation: plan.RotationPlan{Regenerate: "key2"}}}, now)
	want := `
# HELP keysync_account_backoff_seconds Current retry delay of an account after a transient failure; 0 when healthy.
# TYPE keysync_account_backoff_seconds gauge
keysync_account_backoff_seconds{account="a"} 0
keysync_account_backoff_seconds{account="b"} 90
# HELP keysync_last_rotation_timestamp_seconds Unix time of the account's last key rotation (regenerate and Vault write) by keysync.
# TYPE keysync_last_rotation_timestamp_seconds gauge
keysync_last_rotation_timestamp_seconds{account="c"} 1.7e+09
# HELP keysync_last_success_timestamp_seconds Unix time of the account's last successful sync.
# TYPE keysync_last_success_timestamp_seconds gauge
keysync_last_success_timestamp_seconds{account="a"} 1.7000072e+09
keysync_last_success_timestamp_seconds{account="c"} 1.7e+09
# HELP keysync_sync_total Account syncs by outcome: create, update, unchanged, adopt, repair-metadata, mark, delete, refused, failed.
# TYPE keysync_sync_total counter
keysync_sync_total{account="a",result="create"} 1
keysync_sync_total{account="a",result="unchanged"} 2
keysync_sync_total{account="b",result="failed"} 1
keysync_sync_total{account="c",result="update"} 1
# HELP keysync_ticks_skipped_total Scheduled ticks skipped because the account's previous sync was still running.
# TYPE keysync_ticks_skipped_total counter
keysync_ticks_skipped_total{account="b"} 1
`
	names := []string{"keysync_account_backoff_seconds", "keysync_last_rotation_timestamp_seconds",
		"keysync_last_success_timestamp_seconds", "keysync_sync_total", "keysync_ticks_skipped_total"}
	if err := testutil.GatherAndCompare(m.gatherers(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	m.Removed("b")
	m.Removed("c")
	if n := testutil.CollectAndCount(m.accounts); n != 4 {
		t.Fatalf("after removing b and c: %d series, want a's 4", n)
	}
}

// TestOutcomesCoverActions: every action the runner reports is counted in
// place, not in the fallback map.
func TestOutcomesCoverActions(t *testing.T) {
	for a := plan.Unchanged; a <= plan.Delete; a++ {
		if outcomeIndex(a.String()) < 0 {
			t.Errorf("action %s is not in outcomes", a)
		}
	}
	if outcomeIndex("failed") < 0 {
		t.Error("failed is not in outcomes")
	}
}

// BenchmarkAccountSeries reports the heap the per-account series of a
// steady estate keep: four series per account (two results, last success,
// backoff).
func BenchmarkAccountSeries(b *testing.B) {
	const n = 10000
	labels := make([]string, n)
	for i := range labels {
		labels[i] = fmt.Sprintf("account%d", i)
	}
	now := time.Now()
	var bytes float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := New("bench")
		for _, l := range labels {
			m.Synced(l, runner.Result{Change: plan.Change{Action: plan.Create}}, now)
			m.Synced(l, runner.Result{}, now)
			m.Backoff(l, 0)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		bytes = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(bytes, "heap-B/account")
}

// TestOtherResult: a result outside the known outcomes is still counted,
// under its own name.
func TestOtherResult(t *testing.T) {
	m := New("test")
	m.accounts.synced("d", "action(99)")
	m.accounts.synced("d", "action(99)")
	want := `
# HELP keysync_sync_total Account syncs by outcome: create, update, unchanged, adopt, repair-metadata, mark, delete, refused, failed.
# TYPE keysync_sync_total counter
keysync_sync_total{account="d",result="action(99)"} 2
`
	if err := testutil.GatherAndCompare(m.gatherers(), strings.NewReader(want), "keysync_sync_total"); err != nil {
		t.Fatal(err)
	}
}
