package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scrapeText is a plain-text scrape's families, by name.
func scrapeText(t *testing.T, m *Metrics) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return families(t, rec.Body.String())
}

// TestAccountSeriesBySize: "auto" exports the per-account series up to
// MaxAccountSeries accounts (10 here) and not one more; "on" at any size, "off"
// never. The estate's totals are exported in every case, the same in the
// text scrape and the registry's way, and keysync_account_series says
// which it is.
func TestAccountSeriesBySize(t *testing.T) {
	now := time.Unix(1700000000, 0)
	const bound = 10
	big := make(estate, bound+1)
	for i := range big {
		big[i] = acct(fmt.Sprintf("a%06d", i), map[string]uint32{"unchanged": 2}, true, 0, 0, now.Add(time.Duration(i)*time.Second), time.Time{})
	}
	big[7].Backoff, big[7].Syncs = time.Minute, acct("", map[string]uint32{"failed": 1}, true, 0, 0, now, now).Syncs
	for _, tt := range []struct {
		name     string
		mode     AccountSeriesMode
		estate   estate
		exported bool
	}{
		{"auto at the size", AccountSeriesAuto, big[:bound], true},
		{"auto above it", AccountSeriesAuto, big, false},
		{"on above it", AccountSeriesOn, big, true},
		{"off", AccountSeriesOff, big[5:8], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := New("test")
			if m.accounts.max != MaxAccountSeries {
				t.Fatalf("the bound is %d, want MaxAccountSeries", m.accounts.max)
			}
			m.accounts.max = bound
			m.SetEstate(tt.estate)
			m.SetAccountSeries(tt.mode)
			fams := scrapeText(t, m)
			_, has := fams["keysync_last_success_timestamp_seconds"]
			if has != tt.exported {
				t.Fatalf("per-account series exported: %v, want %v", has, tt.exported)
			}
			if n := testutil.CollectAndCount(m.accounts, "keysync_last_success_timestamp_seconds"); (n > 0) != tt.exported {
				t.Fatalf("the registry's way: %d per-account series, want exported %v", n, tt.exported)
			}
			want := map[string]string{
				"keysync_accounts":                         fmt.Sprintf("keysync_accounts %d", len(tt.estate)),
				"keysync_accounts_in_backoff":              "keysync_accounts_in_backoff 1",
				"keysync_oldest_success_timestamp_seconds": "keysync_oldest_success_timestamp_seconds " + string(appendFloat(nil, unixSeconds(tt.estate[0].LastSuccess))),
				"keysync_account_series":                   fmt.Sprintf("keysync_account_series %d", map[bool]int{true: 1}[tt.exported]),
				"keysync_syncs_total":                      `keysync_syncs_total{result="failed"} 1`,
			}
			for name, sample := range want {
				if !slices.Contains(strings.Split(fams[name], "\n"), sample) {
					t.Errorf("%s: %q, want a line %q", name, fams[name], sample)
				}
			}
			if got := testutil.CollectAndCount(m.accounts, "keysync_accounts", "keysync_accounts_in_backoff", "keysync_oldest_success_timestamp_seconds", "keysync_account_series"); got != 4 {
				t.Errorf("the registry's way: %d totals, want 4", got)
			}
		})
	}
}
