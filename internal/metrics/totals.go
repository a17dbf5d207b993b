package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keysync/keysync/sync/scheduler"
)

// MaxAccountSeries is the most accounts whose per-account series
// account_metrics = "auto" exports. A full text scrape of the five
// per-account families took 0.36 s at 100,000 accounts and 0.92 s at
// 200,000 on the benchmark machine (2 cores; docs/scale.md), and each
// account is five to fifteen series a Prometheus server keeps.
const MaxAccountSeries = 100_000

// AccountSeriesMode says when the per-account series are exported.
type AccountSeriesMode int32

// account_metrics values.
const (
	AccountSeriesAuto AccountSeriesMode = iota // up to MaxAccountSeries accounts
	AccountSeriesOn                            // at any size
	AccountSeriesOff                           // never
)

// ParseAccountSeries maps account_metrics to its mode: "on", "off", or
// anything else (the config allows only "auto") auto.
func ParseAccountSeries(s string) AccountSeriesMode {
	switch strings.ToLower(s) {
	case "on":
		return AccountSeriesOn
	case "off":
		return AccountSeriesOff
	}
	return AccountSeriesAuto
}

// SetAccountSeries sets when the per-account series are exported; the
// estate's totals are exported always.
func (m *Metrics) SetAccountSeries(mode AccountSeriesMode) { m.accounts.mode.Store(int32(mode)) }

// totals are the estate's sums, made in one pass at each scrape.
type totals struct {
	accounts, inBackoff int
	syncs               [len(outcomes)]uint64
	oldestSuccess       time.Time
}

// totals sums every account's series.
func (as *accounts) totals() totals {
	var t totals
	src := as.estate.Load()
	if src == nil {
		return t
	}
	(*src).EachAccount(func(a *scheduler.AccountSeries) {
		t.accounts++
		for i, n := range a.Syncs {
			t.syncs[i] += uint64(n)
		}
		if a.Backoff > 0 {
			t.inBackoff++
		}
		if !a.LastSuccess.IsZero() && (t.oldestSuccess.IsZero() || a.LastSuccess.Before(t.oldestSuccess)) {
			t.oldestSuccess = a.LastSuccess
		}
	})
	return t
}

// perAccount reports whether the per-account series of an estate of n
// accounts are exported.
func (as *accounts) perAccount(n int) bool {
	switch AccountSeriesMode(as.mode.Load()) {
	case AccountSeriesOn:
		return true
	case AccountSeriesOff:
		return false
	}
	return n <= as.max
}

// totalDescs makes the descriptors of the estate's totals.
func (as *accounts) totalDescs(desc func(prometheus.Opts, ...string) *prometheus.Desc) {
	as.count = desc(prometheus.Opts{Name: "keysync_accounts",
		Help: "Accounts the daemon syncs, listed and discovered."})
	as.syncsAll = desc(prometheus.Opts{Name: "keysync_syncs_total",
		Help: "Account syncs by outcome, summed over every account (keysync_sync_total without the account label, at any size)."}, "result")
	as.inBackoff = desc(prometheus.Opts{Name: "keysync_accounts_in_backoff",
		Help: "Accounts whose latest sync failed and which wait to retry."})
	as.oldest = desc(prometheus.Opts{Name: "keysync_oldest_success_timestamp_seconds",
		Help: "Unix time of the oldest last successful sync among the accounts that have had one."})
	as.exported = desc(prometheus.Opts{Name: "keysync_account_series",
		Help: "1 when /metrics has the per-account series (account_metrics), 0 when the estate is too large for them or they are off."})
}

// collectTotals sends the estate's totals.
func (as *accounts) collectTotals(ch chan<- prometheus.Metric, t totals, exported bool) {
	ch <- &series{desc: as.count, value: float64(t.accounts)}
	for i, n := range t.syncs {
		if n > 0 {
			ch <- &series{desc: as.syncsAll, labels: resultPairs[i : i+1], counter: true, value: float64(n)}
		}
	}
	ch <- &series{desc: as.inBackoff, value: float64(t.inBackoff)}
	if !t.oldestSuccess.IsZero() {
		ch <- &series{desc: as.oldest, value: unixSeconds(t.oldestSuccess)}
	}
	ch <- &series{desc: as.exported, value: boolValue(exported)}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// writeTotals writes the estate's totals in the text format.
func (t *textWriter) writeTotals(tot totals, exported bool) {
	t.plain("keysync_account_series", "gauge", "", boolValue(exported), true)
	t.plain("keysync_accounts", "gauge", "", float64(tot.accounts), true)
	t.plain("keysync_accounts_in_backoff", "gauge", "", float64(tot.inBackoff), true)
	t.plain("keysync_oldest_success_timestamp_seconds", "gauge", "", unixSeconds(tot.oldestSuccess), !tot.oldestSuccess.IsZero())
	if !t.wanted("keysync_syncs_total") {
		return
	}
	first := true
	for i, n := range tot.syncs {
		if n > 0 {
			if first {
				t.header("keysync_syncs_total", "counter")
				first = false
			}
			t.sample("keysync_syncs_total", "", outcomes[i], float64(n))
		}
	}
}

// plain writes a family of one series without labels, if asked for and
// has.
func (t *textWriter) plain(name, typ, result string, v float64, has bool) {
	if !has || !t.wanted(name) {
		return
	}
	t.header(name, typ)
	t.sample(name, "", result, v)
}
