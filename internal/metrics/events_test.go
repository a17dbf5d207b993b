package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// TestEventLatency: only a targeted sync that wrote is observed, from the
// event's time, clamped to 0..1h: a clock ahead of ours or an event from
// last week must not stretch the histogram.
func TestEventLatency(t *testing.T) {
	m := New("test")
	now := time.Unix(1700000000, 0)
	wrote := runner.Result{Change: plan.Change{Action: plan.Update}}
	m.Targeted("a", now.Add(-300*time.Millisecond), wrote, now)                         // 0.3 s
	m.Targeted("a", now.Add(time.Minute), wrote, now)                                   // future: 0
	m.Targeted("a", now.Add(-7*24*time.Hour), wrote, now)                               // last week: 1h
	m.Targeted("a", now.Add(-time.Second), runner.Result{Change: plan.Change{}}, now)   // wrote nothing
	m.Targeted("a", now.Add(-time.Second), runner.Result{Err: errors.New("boom")}, now) // failed
	m.Targeted("a", time.Time{}, wrote, now)                                            // no time
	want := `
# HELP keysync_event_to_write_seconds From a key-change event's time to the sync it queued writing the new key to Vault (clamped to 0..1h).
# TYPE keysync_event_to_write_seconds histogram
keysync_event_to_write_seconds_bucket{le="0.1"} 1
keysync_event_to_write_seconds_bucket{le="0.25"} 1
keysync_event_to_write_seconds_bucket{le="0.5"} 2
keysync_event_to_write_seconds_bucket{le="1"} 2
keysync_event_to_write_seconds_bucket{le="2"} 2
keysync_event_to_write_seconds_bucket{le="5"} 2
keysync_event_to_write_seconds_bucket{le="10"} 2
keysync_event_to_write_seconds_bucket{le="30"} 2
keysync_event_to_write_seconds_bucket{le="60"} 2
keysync_event_to_write_seconds_bucket{le="300"} 2
keysync_event_to_write_seconds_bucket{le="3600"} 3
keysync_event_to_write_seconds_bucket{le="+Inf"} 3
keysync_event_to_write_seconds_sum 3600.3
keysync_event_to_write_seconds_count 3
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "keysync_event_to_write_seconds"); err != nil {
		t.Fatal(err)
	}
	m.Event("eventgrid", "queued")
	if got := testutil.ToFloat64(m.events.received.WithLabelValues("eventgrid", "queued")); got != 1 {
		t.Fatalf("keysync_events_total = %v, want 1", got)
	}
}
