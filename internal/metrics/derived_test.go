package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keysync/keysync/sync/runner"
)

type fixedExpiries []runner.DerivedExpiry

func (f fixedExpiries) Report() []runner.DerivedExpiry { return f }

// TestDerivedExpiries: each derived SAS's expiry and renewal are read at
// each scrape, by path and name; none before the daemon sets the source.
func TestDerivedExpiries(t *testing.T) {
	m := New("test")
	names := []string{"keysync_derived_expiry_timestamp_seconds", "keysync_derived_renew_timestamp_seconds"}
	if n, err := testutil.GatherAndCount(m.reg, names...); err != nil || n != 0 {
		t.Fatalf("%d series before the source is set: %v", n, err)
	}
	at := time.Unix(1_800_000_000, 0)
	m.SetDerivedExpiries(fixedExpiries{{Path: "apps/a/sas", Name: "sas", Expires: at, RenewAt: at.Add(-time.Hour)}})
	const want = `# HELP keysync_derived_expiry_timestamp_seconds Unix time at which a derived SAS in Vault expires, by its path and field.
# TYPE keysync_derived_expiry_timestamp_seconds gauge
keysync_derived_expiry_timestamp_seconds{name="sas",path="apps/a/sas"} 1.8e+09
# HELP keysync_derived_renew_timestamp_seconds Unix time from which keysync renews a derived SAS in Vault, by its path and field; a time long past means its renewal is failing.
# TYPE keysync_derived_renew_timestamp_seconds gauge
keysync_derived_renew_timestamp_seconds{name="sas",path="apps/a/sas"} 1.7999964e+09
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}
