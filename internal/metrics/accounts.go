package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// outcomes are the results keysync_sync_total counts, by index.
var outcomes = runner.Outcomes

// Estate is where the per-account series come from: the daemon's
// scheduler, which keeps each account's tallies beside its state
// (scheduler.EachAccount). Accounts that share a label come one after
// another and are counted as one series.
type Estate interface {
	EachAccount(f func(*scheduler.AccountSeries))
}

// accounts is a prometheus.Collector of the per-account series, read from
// the estate at each scrape: it keeps nothing per account.
type accounts struct {
	syncs, lastSuccess, backoff, skipped, rotations *prometheus.Desc
	// The estate's totals (totals.go), exported at any size.
	count, syncsAll, inBackoff, oldest, exported *prometheus.Desc
	help                                         map[string]string // by metric name
	names                                        []string          // every family's
	estate                                       atomic.Pointer[Estate]
	mode                                         atomic.Int32 // an AccountSeriesMode
	max                                          int          // MaxAccountSeries; tests set less
}

// each calls f with each label's series, those of accounts sharing it
// merged: counts added, the latest times and the longest backoff kept.
func (as *accounts) each(f func(*scheduler.AccountSeries)) {
	src := as.estate.Load()
	if src == nil {
		return
	}
	var cur scheduler.AccountSeries
	have := false
	(*src).EachAccount(func(a *scheduler.AccountSeries) {
		if have && a.Label == cur.Label {
			merge(&cur, a)
			return
		}
		if have {
			f(&cur)
		}
		cur, have = *a, true
	})
	if have {
		f(&cur)
	}
}

func merge(into, a *scheduler.AccountSeries) {
	for i := range into.Syncs {
		into.Syncs[i] += a.Syncs[i]
	}
	into.Skipped += a.Skipped
	into.Finished = into.Finished || a.Finished
	into.Backoff = max(into.Backoff, a.Backoff)
	if a.LastSuccess.After(into.LastSuccess) {
		into.LastSuccess = a.LastSuccess
	}
	if a.LastRotation.After(into.LastRotation) {
		into.LastRotation = a.LastRotation
	}
}

// Describe sends the descriptors of the per-account metrics.
func (as *accounts) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{as.syncs, as.lastSuccess, as.backoff, as.skipped, as.rotations,
		as.count, as.syncsAll, as.inBackoff, as.oldest, as.exported} {
		ch <- d
	}
}

// Collect sends the estate's totals, then every label's series if they
// are exported.
func (as *accounts) Collect(ch chan<- prometheus.Metric) {
	tot := as.totals()
	exported := as.perAccount(tot.accounts)
	as.collectTotals(ch, tot, exported)
	if exported {
		as.each(func(a *scheduler.AccountSeries) { as.collect(ch, a) })
	}
}

var (
	accountLabel = "account"
	resultLabel  = "result"
	// resultPairs are the result label of each of outcomes, shared.
	resultPairs = func() (out [len(outcomes)]*dto.LabelPair) {
		for i := range outcomes {
			out[i] = &dto.LabelPair{Name: &resultLabel, Value: &outcomes[i]}
		}
		return out
	}()
)

// collect sends one label's series; the account label pair is made once
// for them all.
func (as *accounts) collect(ch chan<- prometheus.Metric, a *scheduler.AccountSeries) {
	label := a.Label
	pair := []*dto.LabelPair{{Name: &accountLabel, Value: &label}}
	for i := range outcomes {
		if n := a.Syncs[i]; n > 0 {
			ch <- &series{desc: as.syncs, labels: []*dto.LabelPair{pair[0], resultPairs[i]}, counter: true, value: float64(n)}
		}
	}
	send := func(has bool, desc *prometheus.Desc, counter bool, v float64) {
		if has {
			ch <- &series{desc: desc, labels: pair, counter: counter, value: v}
		}
	}
	send(!a.LastSuccess.IsZero(), as.lastSuccess, false, unixSeconds(a.LastSuccess))
	send(a.Finished, as.backoff, false, a.Backoff.Seconds())
	send(a.Skipped > 0, as.skipped, true, float64(a.Skipped))
	send(!a.LastRotation.IsZero(), as.rotations, false, unixSeconds(a.LastRotation))
}

// unixSeconds is t in whole Unix seconds, as the series give times.
func unixSeconds(t time.Time) float64 { return float64(t.Unix()) }

// series is one sample of a scrape: made while it runs and dropped after.
type series struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair // sorted by name, as Write must give them
	counter bool
	value   float64
}

func (s *series) Desc() *prometheus.Desc { return s.desc }

// Write fills m with the sample.
func (s *series) Write(m *dto.Metric) error {
	v := s.value
	m.Label = s.labels
	if s.counter {
		m.Counter = &dto.Counter{Value: &v}
	} else {
		m.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}
