package metrics

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keysync/keysync/sync/runner"
)

type fixedExpiries []runner.DerivedExpiry

func (f fixedExpiries) Report() []runner.DerivedExpiry { return f }

// countedExpiries counts the reads of its source.
type countedExpiries struct {
	fixedExpiries
	reads *int
}

func (c countedExpiries) Report() []runner.DerivedExpiry { *c.reads++; return c.fixedExpiries }

// TestDerivedExpiries: each derived SAS's expiry and renewal are read at
// each scrape, by path and name; none before the daemon sets the source.
func TestDerivedExpiries(t *testing.T) {
	m := New("test")
	names := []string{"keysync_derived_expiry_timestamp_seconds", "keysync_derived_renew_timestamp_seconds"}
	if n, err := testutil.GatherAndCount(m.gatherers(), names...); err != nil || n != 0 {
		t.Fatalf("%d series before the source is set: %v", n, err)
	}
	at := time.Unix(1_800_000_000, 0)
	reads := 0
	m.SetDerivedExpiries(countedExpiries{fixedExpiries{{Path: "apps/a/sas", Name: "sas", Expires: at, RenewAt: at.Add(-time.Hour)},
		{Path: "apps/b/sas", Name: `q"uo\te`, Expires: at.Add(time.Hour), RenewAt: at}}, &reads})
	const want = `# HELP keysync_derived_expiry_timestamp_seconds Unix time at which a derived SAS in Vault expires, by its path and field.
# TYPE keysync_derived_expiry_timestamp_seconds gauge
keysync_derived_expiry_timestamp_seconds{name="sas",path="apps/a/sas"} 1.8e+09
keysync_derived_expiry_timestamp_seconds{name="q\"uo\\te",path="apps/b/sas"} 1.8000036e+09
# HELP keysync_derived_renew_timestamp_seconds Unix time from which keysync renews a derived SAS in Vault, by its path and field; a time long past means its renewal is failing.
# TYPE keysync_derived_renew_timestamp_seconds gauge
keysync_derived_renew_timestamp_seconds{name="sas",path="apps/a/sas"} 1.7999964e+09
keysync_derived_renew_timestamp_seconds{name="q\"uo\\te",path="apps/b/sas"} 1.8e+09
`
	// The registry's way (protobuf scrapes) and the text the handler
	// writes itself say the same.
	if err := testutil.GatherAndCompare(m.gatherers(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	scrape := func(names ...string) string {
		req := httptest.NewRequest(http.MethodGet, "/metrics?"+url.Values{"name[]": names}.Encode(), nil)
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, req)
		return rec.Body.String()
	}
	if got := scrape(names...); got != want {
		t.Errorf("text scrape:\n%s\nwant:\n%s", got, want)
	}
	if got := scrape(); !strings.Contains(got, want) {
		t.Errorf("a whole scrape lacks the derived families as the registry writes them:\n%s", got)
	}
	// A scrape of other families does not read the SAS at all: at
	// 100,000 derived values that read cost each poll of one counter more
	// than the rest of the scrape.
	reads = 0
	if got := scrape("keysync_arm_requests_total"); strings.Contains(got, "keysync_derived") || reads != 0 {
		t.Errorf("a scrape of another family read the SAS %d times:\n%s", reads, got)
	}
}
