package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// estate is a fixed list of accounts' series, as the scheduler gives them
// (by label).
type estate []scheduler.AccountSeries

func (e estate) EachAccount(f func(*scheduler.AccountSeries)) {
	for i := range e {
		a := e[i]
		f(&a)
	}
}

// acct makes an account's series: syncs by outcome name.
func acct(label string, syncs map[string]uint32, finished bool, backoff time.Duration, skipped uint32, success, rotation time.Time) scheduler.AccountSeries {
	a := scheduler.AccountSeries{Label: label, Finished: finished, Backoff: backoff, Skipped: skipped, LastSuccess: success, LastRotation: rotation}
	for name, n := range syncs {
		a.Syncs[runner.OutcomeIndex(name)] = n
	}
	return a
}

// TestAccountSeries: the per-account series read as the client_golang
// vectors they replaced did: a counter from its first count, a gauge once
// set (the backoff once a sync finished); two accounts that share a label
// are one series (counts added, the latest time); an account that never
// synced has none.
func TestAccountSeries(t *testing.T) {
	m := New("test")
	now := time.Unix(1700000000, 0)
	var never time.Time
	m.SetEstate(estate{
		acct("a", map[string]uint32{"create": 1, "unchanged": 1}, true, 0, 0, now.Add(time.Hour), never),
		acct("a", map[string]uint32{"unchanged": 1}, true, 0, 0, now.Add(2*time.Hour), never),
		acct("b", map[string]uint32{"failed": 1}, true, 90*time.Second, 1, never, never),
		acct("c", map[string]uint32{"update": 1}, true, 0, 0, now, now),
		acct("d", nil, false, 0, 0, never, never),
	})
	want := `
# HELP keysync_account_backoff_seconds Current retry delay of an account after a transient failure; 0 when healthy.
# TYPE keysync_account_backoff_seconds gauge
keysync_account_backoff_seconds{account="a"} 0
keysync_account_backoff_seconds{account="b"} 90
keysync_account_backoff_seconds{account="c"} 0
# HELP keysync_last_rotation_timestamp_seconds Unix time of the account's last key rotation (regenerate and Vault write) by keysync.
# TYPE keysync_last_rotation_timestamp_seconds gauge
keysync_last_rotation_timestamp_seconds{account="c"} 1.7e+09
# HELP keysync_last_success_timestamp_seconds Unix time of the account's last successful sync.
# TYPE keysync_last_success_timestamp_seconds gauge
keysync_last_success_timestamp_seconds{account="a"} 1.7000072e+09
keysync_last_success_timestamp_seconds{account="c"} 1.7e+09
# HELP keysync_sync_total Account syncs by outcome: create, update, unchanged, adopt, repair-metadata, mark, delete, pending, refused, failed.
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
	m.SetEstate(estate{acct("a", map[string]uint32{"unchanged": 1}, true, 0, 0, now, never)})
	if n := testutil.CollectAndCount(m.accounts, names...); n != 3 {
		t.Fatalf("after b, c and d went: %d series, want a's 3", n)
	}
}
